-- One database, a schema per domain (DESIGN.md "Shape").
CREATE SCHEMA IF NOT EXISTS chain;

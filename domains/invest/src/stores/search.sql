-- Verified stores within $3 metres of ($1, $2), nearest first, after the cursor ($6, $7).
-- `earth_box @>` is what the GiST index on ll_to_earth(lat, lon) answers (a bounding cube, a
-- superset); the exact distance then keeps the circle.
SELECT id, name, category, address, lat, lon, base_rate_bp, distance_m AS "distance_m!"
  FROM (SELECT s.*, earth_distance(ll_to_earth($1, $2), ll_to_earth(s.lat, s.lon)) AS distance_m
          FROM invest.stores s
         WHERE earth_box(ll_to_earth($1, $2), $3) @> ll_to_earth(s.lat, s.lon)
           AND s.verified_at IS NOT NULL
           AND ($4::text IS NULL OR s.category = $4)
           AND ($5::text IS NULL OR strpos(lower(s.name), lower($5)) > 0
                                 OR strpos(lower(s.address), lower($5)) > 0)) found
 WHERE distance_m <= $3
   AND ($6::float8 IS NULL OR (distance_m, id) > ($6, $7::uuid))
 ORDER BY distance_m, id
 LIMIT $8

//! `ops/`: every metric the alert rules and the Grafana dashboard name is one the services
//! really export, and every metric the code records is declared by its service.
//!
//! The exported names are collected from the services themselves: the API's and the relayer's
//! `describe()` run against a recorder that notes each declared name (the functions their
//! binaries call at start-up), and the indexer's own recorder renders its series. The names in
//! `ops/` are read from the rules' expressions (and the queries in their annotations) and the
//! dashboard's targets. `promtool check rules` / `promtool test rules` (script/test) check the
//! rule file's syntax and behaviour; this test checks it against the code.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// Notes every metric name declared or registered through it.
#[derive(Default, Clone)]
struct Names(Arc<Mutex<BTreeSet<String>>>);

impl Names {
    fn add(&self, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned());
    }
}

impl Recorder for Names {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.add(key.as_str());
    }
    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.add(key.as_str());
    }
    fn describe_histogram(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        let name = key.as_str();
        for suffix in ["", "_bucket", "_sum", "_count"] {
            self.add(&format!("{name}{suffix}"));
        }
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.add(key.name());
        Counter::noop()
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.add(key.name());
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.add(key.name());
        Histogram::noop()
    }
}

fn declared_by(describe: fn()) -> BTreeSet<String> {
    let names = Names::default();
    metrics::with_local_recorder(&names, describe);
    names.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The series names in a Prometheus text exposition (`# TYPE name kind` lines).
fn rendered(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            out.insert(name.to_owned());
            if kind == "histogram" || kind == "summary" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    out.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    out
}

/// Every metric name the three services export.
fn exported() -> BTreeSet<String> {
    let mut all = declared_by(posmul_api::business_metrics::describe);
    all.extend(declared_by(posmul_relayer::metrics::describe));
    let indexer = posmul_indexer::status::Status::new();
    all.extend(rendered(&indexer.metrics.render()));
    all
}

/// Series Prometheus itself adds to every target.
const FROM_PROMETHEUS: &[&str] = &["up", "scrape_duration_seconds", "scrape_samples_scraped"];

/// PromQL's keywords and aggregation operators (which may stand before `by (…)`, not `(`).
const PROMQL_WORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "atan2",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// The metric names in a PromQL expression: identifiers that are not functions (followed by
/// `(`), keywords, label names (inside `{…}` or a `by (…)`-style list), numbers, durations or
/// strings.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    let mut skip_list = false; // inside by (…), without (…), on (…), ignoring (…)
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '{' || c == '[' {
            let close = if c == '{' { '}' } else { ']' };
            while i < chars.len() && chars[i] != close {
                if chars[i] == '"' {
                    i += 1;
                    while i < chars.len() && chars[i] != '"' {
                        i += if chars[i] == '\\' { 2 } else { 1 };
                    }
                }
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (ident(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if ident(c) {
            let start = i;
            while i < chars.len() && ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let call = chars.get(j) == Some(&'(');
            if [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ]
            .contains(&word.as_str())
            {
                skip_list = call;
            } else if !call && !skip_list && !PROMQL_WORDS.contains(&word.as_str()) {
                out.insert(word);
            }
        } else {
            if c == ')' {
                skip_list = false;
            }
            i += 1;
        }
    }
    out
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// The expressions of the rule file: each `expr:` value and each `query "…"` of a template.
fn rule_expressions(yaml: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in yaml.lines() {
        let t = line.trim_start();
        if let Some(expr) = t.strip_prefix("expr:") {
            assert!(
                !matches!(expr.trim(), "|" | ">" | "|-" | ">-" | ""),
                "keep each expr on one line (this test reads them line by line): {line}"
            );
            out.push(expr.trim().to_owned());
        }
        let mut rest = t;
        while let Some(at) = rest.find("query \"") {
            let q = &rest[at + 7..];
            let end = q.find('"').expect("a closed query string");
            out.push(q[..end].to_owned());
            rest = &q[end..];
        }
    }
    out
}

fn dashboard_expressions(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => dashboard_expressions(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                dashboard_expressions(v, out);
            }
        }
        _ => {}
    }
}

fn unknown(exprs: &[String], exported: &BTreeSet<String>) -> Vec<String> {
    exprs
        .iter()
        .flat_map(|e| {
            metric_names(e)
                .into_iter()
                .filter(|n| !exported.contains(n) && !FROM_PROMETHEUS.contains(&n.as_str()))
                .map(move |n| format!("{n} (in {e})"))
        })
        .collect()
}

#[test]
fn promql_names_are_read_as_intended() {
    let names = metric_names(
        r#"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{status=~"5.."}[5m]))) > 1e18 or min by (book) (posmul_economy_zero_sum_ok) == 0 and on(instance) up"#,
    );
    let want: BTreeSet<String> = [
        "http_request_duration_seconds_bucket",
        "posmul_economy_zero_sum_ok",
        "up",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(names, want);
}

#[test]
fn every_metric_in_the_alert_rules_is_exported() {
    let exported = exported();
    let yaml = std::fs::read_to_string(repo().join("ops/prometheus/alerts.yml"))
        .expect("ops/prometheus/alerts.yml");
    let exprs = rule_expressions(&yaml);
    assert!(exprs.len() >= 10, "too few expressions read: {exprs:?}");
    let bad = unknown(&exprs, &exported);
    assert!(bad.is_empty(), "metrics no service exports: {bad:#?}");

    // The three tiers, and nothing else.
    let severities: BTreeSet<&str> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("severity:"))
        .map(str::trim)
        .collect();
    assert_eq!(
        severities,
        BTreeSet::from(["critical", "info", "warning"]),
        "alert tiers"
    );
}

#[test]
fn every_metric_on_the_dashboard_is_exported() {
    let exported = exported();
    let text = std::fs::read_to_string(repo().join("ops/grafana/posmul.json"))
        .expect("ops/grafana/posmul.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "posmul-overview");
    let mut exprs = Vec::new();
    dashboard_expressions(&dashboard, &mut exprs);
    assert!(exprs.len() >= 20, "too few panel queries read: {exprs:?}");
    let bad = unknown(&exprs, &exported);
    assert!(bad.is_empty(), "metrics no service exports: {bad:#?}");
}

/// The literal name in each `counter!("…"`, `gauge!("…"` and `histogram!("…"` of the
/// workspace's sources (tests excluded).
fn recorded_in_code(dir: &Path, out: &mut BTreeSet<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !matches!(
                name.as_ref(),
                "target" | "tests" | "node_modules" | "contracts" | ".git" | "testkit"
            ) {
                recorded_in_code(&path, out);
            }
        } else if name.ends_with(".rs") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for macro_ in ["counter!(\"", "gauge!(\"", "histogram!(\""] {
                for (at, _) in text.match_indices(macro_) {
                    let rest = &text[at + macro_.len()..];
                    if let Some(end) = rest.find('"') {
                        out.insert((rest[..end].to_owned(), path.display().to_string()));
                    }
                }
            }
        }
    }
}

#[test]
fn every_metric_the_code_records_is_declared_by_its_service() {
    let exported = exported();
    let mut recorded = BTreeSet::new();
    recorded_in_code(&repo(), &mut recorded);
    assert!(recorded.len() >= 30, "too few metrics found: {recorded:?}");
    let undeclared: Vec<_> = recorded
        .iter()
        .filter(|(name, _)| !exported.contains(name) && !name.starts_with("posmul_test"))
        .collect();
    assert!(
        undeclared.is_empty(),
        "metrics recorded but not declared (add them to the service's describe()): {undeclared:#?}"
    );
}

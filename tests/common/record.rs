//! The one reader of domkit's JSON records for tests: every record a test reads is checked
//! against doc/record.schema.json, and must carry no member the schema does not describe,
//! before the test looks at it. The integration tests use it through `tests/common`, the
//! library's unit tests include this file from `lib/src/libvirt/mod.rs`, so a record any
//! test sees is a record the documented interface allows.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::OnceLock;

use serde_json::Value;

/// The schema's text: the documented interface of domkit-record(5).
pub const SCHEMA: &str = include_str!("../../doc/record.schema.json");

/// The schema as JSON.
pub fn schema() -> &'static Value {
    static SCHEMA_JSON: OnceLock<Value> = OnceLock::new();
    SCHEMA_JSON
        .get_or_init(|| serde_json::from_str(SCHEMA).expect("doc/record.schema.json is JSON"))
}

/// The members the schema describes, in its order.
pub fn described_members() -> Vec<String> {
    schema()["properties"]
        .as_object()
        .expect("the schema has properties")
        .keys()
        .cloned()
        .collect()
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::draft202012::new(schema()).expect("doc/record.schema.json is a valid schema")
    })
}

/// What is wrong with one record: schema violations, then members the schema does not
/// describe (the schema allows them for later versions; domkit's own records must not have
/// them). Empty when the record is fine.
pub fn problems(record: &Value) -> Vec<String> {
    let mut found: Vec<String> = validator()
        .iter_errors(record)
        .map(|e| format!("{e} (at '{}')", e.instance_path()))
        .collect();
    let described = described_members();
    if let Some(object) = record.as_object() {
        for key in object.keys().filter(|k| !described.contains(k)) {
            found.push(format!(
                "member \"{key}\" is not described by doc/record.schema.json: describe it \
                 there and in man/domkit-record.5"
            ));
        }
    }
    found
}

/// One line of a tool's stdout as a record; panics naming every problem when it is not JSON
/// or not a record the schema allows.
pub fn record(line: &str) -> Value {
    let value: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON record ({e}): {line}"));
    let problems = problems(&value);
    assert!(
        problems.is_empty(),
        "record does not match doc/record.schema.json (domkit-record(5)):\n  {}\n{line}",
        problems.join("\n  ")
    );
    value
}

/// Every line of a tool's stdout as a record (see [`record`]).
pub fn records(stdout: &str) -> Vec<Value> {
    stdout.lines().map(record).collect()
}

//! The JSON records are a documented interface (doc/record.schema.json, domkit-record(5)):
//! the schema is valid and has teeth, it describes exactly the members of
//! `domkit::libvirt::Record` and every word the code can print, the man page documents
//! every member, and every record in the trycmd cases matches it. The records the other
//! tests read are checked by their one reader, tests/common/record.rs.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::record::{described_members, problems, schema};
use domkit::libvirt::Record;
use domkit::libvirt::record::{reason_word, state_word};
use serde::de::{self, Visitor};
use serde_json::{Value, json};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A deserializer that only asks the type for its field names (serde's derive hands them
/// to `deserialize_struct`), so the test sees every field of `Record`, optional or not,
/// without constructing one.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("Record is not a plain struct any more"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("field names read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

fn record_fields() -> Vec<String> {
    let mut fields = None;
    let _ = <Record as serde::Deserialize>::deserialize(FieldNames(&mut fields));
    fields
        .expect("Record's field names (a flattened Record needs its members listed here)")
        .iter()
        .map(|f| f.to_string())
        .collect()
}

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    assert_eq!(
        schema()["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    if let Err(e) = jsonschema::draft202012::meta::validate(schema()) {
        panic!("doc/record.schema.json: {e}");
    }
}

#[test]
fn record_fields_and_schema_members_are_the_same() {
    let fields = record_fields();
    let described = described_members();
    let undescribed: Vec<&String> = fields.iter().filter(|f| !described.contains(f)).collect();
    assert!(
        undescribed.is_empty(),
        "Record has fields {undescribed:?} that doc/record.schema.json does not describe: \
         records are a documented interface; describe each new member in the schema \
         (optional unless every record has it) and in man/domkit-record.5 (MEMBERS)"
    );
    let gone: Vec<&String> = described.iter().filter(|m| !fields.contains(m)).collect();
    assert!(
        gone.is_empty(),
        "doc/record.schema.json describes {gone:?}, which Record no longer has: \
         domkit-record(5) promises members are never removed or renamed; if this is meant, \
         update the schema and man/domkit-record.5 (MEMBERS, STABILITY)"
    );
    // The members every record has are required, the optional ones are not.
    let required: Vec<&str> = schema()["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        [
            "name",
            "uuid",
            "state",
            "reason",
            "persistent",
            "uri",
            "action"
        ]
    );
}

#[test]
fn the_man_page_documents_every_member() {
    let page = fs::read_to_string(repo().join("man/domkit-record.5")).unwrap();
    let members = page
        .split(".SH MEMBERS\n")
        .nth(1)
        .and_then(|rest| rest.split("\n.SH ").next())
        .expect("man/domkit-record.5 has a MEMBERS section");
    for member in described_members() {
        assert!(
            members.contains(&format!("\n.B {member}\n")),
            "man/domkit-record.5 does not document member \"{member}\" under MEMBERS"
        );
    }
}

/// The words a member may take, as the schema lists them.
fn words(member: &str) -> Vec<String> {
    schema()["properties"][member]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("schema: {member} has no enum"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_state_and_reason_word_the_code_prints_is_in_the_schema() {
    let (states, reasons) = (words("state"), words("reason"));
    // Beyond libvirt's numbers too: newer ones map to nostate/unknown.
    for state in -1..12 {
        let word = state_word(state);
        assert!(states.contains(&word.to_string()), "state {state}: {word}");
        for reason in -1..20 {
            let word = reason_word(state, reason);
            assert!(
                reasons.contains(&word.to_string()),
                "state {state} reason {reason}: \"{word}\" is missing from the schema's reason \
                 words (and domkit-record(5))"
            );
        }
    }
    let define = domkit::tools::define::NOT_RUN_SINCE_DEFINED;
    assert!(reasons.contains(&define.to_string()), "{define}");
}

#[test]
fn the_schema_rejects_what_is_not_a_record() {
    let good = json!({
        "name": "vm1", "uuid": "c7a5fdbd-edaf-9455-926a-d65c16db1809", "id": 3,
        "state": "running", "reason": "booted", "persistent": true,
        "uri": "qemu:///system", "action": "started"
    });
    assert_eq!(problems(&good), Vec::<String>::new());
    let with = |key: &str, value: Value| {
        let mut v = good.clone();
        v[key] = value;
        v
    };
    let without = |key: &str| {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove(key);
        v
    };
    let bad = [
        ("no uuid", without("uuid")),
        ("no action", without("action")),
        (
            "upper-case uuid",
            with("uuid", json!("C7A5FDBD-EDAF-9455-926A-D65C16DB1809")),
        ),
        ("unknown state", with("state", json!("sleeping"))),
        ("negative id", with("id", json!(-1))),
        ("null id", with("id", Value::Null)),
        ("string persistent", with("persistent", json!("yes"))),
        ("unknown action", with("action", json!("rebooted"))),
        ("id while shut off", with("state", json!("shutoff"))),
        ("undocumented member", with("colour", json!("blue"))),
        ("not an object", json!(["vm1"])),
    ];
    for (what, value) in bad {
        assert!(!problems(&value).is_empty(), "{what} accepted: {value}");
    }
}

/// Every `*.stdout` under `dir`, recursively.
fn stdout_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            stdout_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "stdout") {
            out.push(path);
        }
    }
}

/// A trycmd line with wildcards for what differs per run (`"waited_ms":[..]`,
/// `"uuid":"[..]"`) made concrete with a valid value of that member, so that the rest of the
/// line is still checked.
fn concrete(line: &str) -> String {
    let samples = [
        ("uuid", "\"c7a5fdbd-edaf-9455-926a-d65c16db1809\""),
        ("id", "1"),
        ("waited_ms", "1"),
        ("name", "\"vm\""),
        ("uri", "\"qemu:///system\""),
    ];
    let mut line = line.to_string();
    for (key, sample) in samples {
        line = line
            .replace(
                &format!("\"{key}\":\"[..]\""),
                &format!("\"{key}\":{sample}"),
            )
            .replace(&format!("\"{key}\":[..]"), &format!("\"{key}\":{sample}"));
    }
    line
}

#[test]
fn every_record_in_the_trycmd_cases_matches_the_schema() {
    let mut files = Vec::new();
    stdout_files(&repo().join("tests/cmd"), &mut files);
    let mut checked = 0;
    for file in files {
        let tool = file
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy();
        let text = fs::read_to_string(&file).unwrap();
        // The libvirt tools' records; their --help and --version have no line like one.
        // dom-media talks to no libvirt: its JSON is media descriptions and specs; dom-vol
        // prints volume records, not domain records.
        if !tool.starts_with("dom-") || tool == "dom-media" || tool == "dom-vol" {
            continue;
        }
        for line in text.lines().filter(|l| l.starts_with('{')) {
            let problems =
                problems(&serde_json::from_str(&concrete(line)).unwrap_or_else(|e| {
                    panic!("{}: not a JSON record ({e}): {line}", file.display())
                }));
            assert!(
                problems.is_empty(),
                "{}: {problems:?}\n{line}",
                file.display()
            );
            checked += 1;
        }
    }
    // dom-define/defined and dom-create/transient at least.
    assert!(checked >= 2, "only {checked} records found under tests/cmd");
}

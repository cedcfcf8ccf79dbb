//! docs/schema.md and docs/schema.json (generated from the types; the
//! ssh-trace unit test `docs_schema_json_matches_the_types` keeps it current)
//! describe the same events with the same fields: every documented field
//! path exists in the JSON Schema and every schema path is documented, with
//! `always` exactly where the schema requires the field.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use ssh_trace_tests::{json_schema, schema::Schema};

#[test]
fn schema_md_and_schema_json_list_the_same_fields() {
    let md = Schema::load().unwrap();
    let generated = json_schema::event_fields(&json_schema::load().unwrap());
    let mut md_events = md.event_names();
    md_events.sort();
    let json_events: Vec<String> = generated.keys().cloned().collect();
    assert_eq!(md_events, json_events, "event types differ");
    let mut problems = Vec::new();
    for (event, fields) in &generated {
        let documented = md.documented(event).unwrap();
        for (path, required) in fields {
            match documented.get(path) {
                None => problems.push(format!(
                    "{event}: {path} is in schema.json, not in schema.md"
                )),
                Some(always) if always != required => problems.push(format!(
                    "{event}: {path} is {} in schema.md but {} in schema.json",
                    if *always { "always" } else { "optional" },
                    if *required { "required" } else { "optional" },
                )),
                Some(_) => {}
            }
        }
        for path in documented.keys() {
            if !fields.contains_key(path) {
                problems.push(format!(
                    "{event}: {path} is in schema.md, not in schema.json"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn field_walker_sees_nested_and_nullable_fields() {
    // Guards the comparison above against a walker that finds nothing.
    let fields = json_schema::event_fields(&json_schema::load().unwrap());
    let end = &fields["session.end"];
    assert_eq!(end.get("session.source.ip"), Some(&true));
    assert_eq!(end.get("session.discovered"), Some(&false));
    assert_eq!(end.get("session.bytes_in"), Some(&true));
    assert_eq!(fields["user.change"].get("change.old.sgid"), Some(&true));
    assert!(!fields["session.login"].contains_key("session.bytes_in"));
}

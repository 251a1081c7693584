//! Property-based fuzzing of every ingest decoder: the native batch body,
//! the native websocket frame, and the Python clients' handshake, heartbeat
//! and `project_error` bodies. Inputs are random bytes, random JSON built from
//! the protocol's own field names, and valid bodies with random edits. The
//! property: a decoder never panics, and whatever it refuses it refuses with
//! a 4xx and a stable code.
//!
//! CI runs 256 cases per target (proptest's default); a long run:
//! `PROPTEST_CASES=200000 cargo test --release -p loggerflow-server --test fuzz_decoders`.

use loggerflow_server::error::AppError;
use loggerflow_server::ingest::{compat, native};
use proptest::prelude::*;
use serde_json::{Value, json};

const CODES: &[&str] = &["malformed_json", "invalid_message", "unsupported_protocol"];

fn refused_well<T>(result: Result<T, AppError>) -> Result<(), TestCaseError> {
    if let Err(error) = result {
        prop_assert!(error.status().is_client_error(), "{error:?}");
        prop_assert!(CODES.contains(&error.code()), "{error:?}");
        prop_assert!(!error.message().is_empty());
    }
    Ok(())
}

/// Every decoder on the same input.
fn all(bytes: &[u8]) -> Result<(), TestCaseError> {
    refused_well(native::decode_batch(bytes))?;
    refused_well(native::decode_frame(&String::from_utf8_lossy(bytes)))?;
    refused_well(compat::decode_handshake(bytes))?;
    refused_well(compat::decode_heartbeat(bytes))?;
    refused_well(compat::decode_project_error(bytes))?;
    Ok(())
}

const KEYS: &[&str] = &[
    "protocol",
    "instance",
    "messages",
    "type",
    "report",
    "id",
    "project",
    "timestamp",
    "level",
    "kind",
    "message",
    "target",
    "frames",
    "function",
    "file",
    "line",
    "yours",
    "fields",
    "spans",
    "error",
    "metrics",
    "cpu_percent",
    "heartbeat_s",
    "trace_mode",
    "transport",
    "project_name",
    "traceback",
    "last_readings",
    "implementation",
    "interval",
    "request_path",
    "hello",
    "heartbeat",
    "goodbye",
    "pid",
    "host",
    "client_version",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(KEYS).prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::from),
        Just(json!(1)),
        Just(json!("report")),
        Just(json!("2026-11-25T00:00:00Z")),
        Just(json!("ERROR")),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|pairs| {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// Valid bodies of each decoder, to edit.
fn seeds() -> Vec<String> {
    let report = json!({
        "id": "0193a4c2-8f10-7000-8000-000000000001", "project": "Shop",
        "timestamp": "2026-11-25T00:00:00Z", "level": "ERROR", "kind": "event",
        "message": "payment 1 failed", "target": "shop::pay", "module": "shop::pay",
        "file": "src/pay.rs", "line": 10, "thread": "main", "host": "h",
        "frames": [{"function": "shop::pay::charge", "file": "src/pay.rs", "line": 10, "yours": true}]
    });
    vec![
        json!({"protocol": 1, "instance": "i-1", "messages": [
            {"type": "hello", "protocol": 1, "project": "Shop", "instance": "i-1", "host": "h",
             "pid": 1, "client_version": "t/1", "heartbeat_s": 5, "trace_mode": "full",
             "transport": "webhook"},
            {"type": "heartbeat", "metrics": {"cpu_percent": 1.0, "process_cpu_percent": 0.5,
                "process_memory_bytes": 1000, "memory_used_bytes": 2000, "memory_total_bytes": 4000}},
            {"type": "report", "report": report},
            {"type": "goodbye"}
        ]})
        .to_string(),
        json!({"type": "report", "report": report}).to_string(),
        json!({"project_name": "Shop", "interval": 5, "implementation": "webhook",
               "last_readings": {"cpu": "12.5", "memory": "1.5 GB"}})
        .to_string(),
        json!({"project_name": "Shop", "traceback":
            "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    main()\nValueError: bad"})
        .to_string(),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (
            any::<usize>(),
            prop::sample::select(b"{}[]\",:0-e.\\ \x00\xff".to_vec())
        )
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(seed: &str, edits: &[Edit]) -> Vec<u8> {
    let mut bytes = seed.as_bytes().to_vec();
    for e in edits {
        let len = bytes.len().max(1);
        match *e {
            Edit::Replace(i, b) if !bytes.is_empty() => bytes[i % len] = b,
            Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Edit::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % len);
            }
            Edit::Truncate(i) => bytes.truncate(i % (bytes.len() + 1)),
            _ => {}
        }
    }
    bytes
}

proptest! {
    #[test]
    fn random_bytes_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        all(&bytes)?;
    }

    #[test]
    fn random_json_is_refused_cleanly(value in json_value()) {
        let text = value.to_string();
        all(text.as_bytes())?;
        // the same shapes inside a batch and a report
        let batch = json!({"protocol": 1, "instance": "i", "messages": [value.clone()]});
        all(batch.to_string().as_bytes())?;
        let report = json!({"protocol": 1, "instance": "i", "messages": [{"type": "report", "report": value}]});
        all(report.to_string().as_bytes())?;
    }

    #[test]
    fn edited_valid_bodies_are_decoded_or_refused_cleanly(
        seed in prop::sample::select(seeds()),
        edits in prop::collection::vec(edit(), 1..8),
    ) {
        all(&apply(&seed, &edits))?;
    }
}

#[test]
fn the_seeds_are_valid() {
    let seeds = seeds();
    if let Err(e) = native::decode_batch(seeds[0].as_bytes()) {
        panic!("{e:?}");
    }
    assert!(native::decode_frame(&seeds[1]).is_ok());
    assert!(compat::decode_handshake(seeds[2].as_bytes()).is_ok());
    assert!(compat::decode_heartbeat(seeds[2].as_bytes()).is_ok());
    assert!(compat::decode_project_error(seeds[3].as_bytes()).is_ok());
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    for depth in [200, 100_000] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let error = native::decode_batch(deep.as_bytes()).expect_err("refused");
        assert_eq!(error.code(), "malformed_json", "{error:?}");
        assert!(error.message().contains("recursion limit"), "{error:?}");
        let inside = format!(r#"{{"protocol": 1, "instance": "i", "messages": {deep}}}"#);
        assert!(native::decode_batch(inside.as_bytes()).is_err());
        assert!(compat::decode_project_error(deep.as_bytes()).is_err());
    }
}

#[test]
fn invalid_utf8_is_refused() {
    let mut body = seeds()[0].clone().into_bytes();
    let at = body.len() / 2;
    body.splice(at..at, [0xff, 0xfe]);
    let error = native::decode_batch(&body).expect_err("refused");
    assert_eq!(error.status().as_u16(), 400);
}

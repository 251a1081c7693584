//! `GET /api/v1/openapi.json`: the document parses as OpenAPI 3.1 (`oas3`),
//! every reference in it resolves, it lists exactly the `/api/v1/` routes of
//! `router.rs` (and `/metrics`), the README's API table is made from it, and
//! a real server (`--auth`, a real SQLite file) answers every operation in
//! it with a status it declares and a body its schema describes, field for
//! field; its refusals too.

mod common;

use std::collections::BTreeSet;

use common::{Backend, Db, Server, batch, heartbeat, hello, new_id, report};
use serde_json::{Value, json};

const USER: &str = "ops";
const PASSWORD: &str = "s3cret";

/// The methods of an OpenAPI path item this server uses.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// What the test's requests answered.
struct Answer {
    status: u16,
    content_type: String,
    text: String,
}

/// A request as a script sends it: HTTP Basic when `auth`, JSON when a body.
async fn call(
    server: &Server,
    method: &str,
    path: &str,
    body: Option<&Value>,
    auth: bool,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = reqwest::Client::new().request(method, server.url(path));
    if auth {
        request = request.basic_auth(USER, Some(PASSWORD));
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("a request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = if content_type.starts_with("text/event-stream") {
        // a stream that stays open: its first event is the answer
        let mut response = response;
        tokio::time::timeout(std::time::Duration::from_secs(5), response.chunk())
            .await
            .expect("the stream's first event")
            .ok()
            .flatten()
            .map(|chunk| String::from_utf8_lossy(&chunk).into_owned())
            .unwrap_or_default()
    } else {
        response.text().await.unwrap_or_default()
    };
    Answer {
        status,
        content_type,
        text,
    }
}

/// The value `reference` (`#/components/…`) points to in `doc`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    reference
        .strip_prefix('#')
        .and_then(|pointer| doc.pointer(pointer))
        .unwrap_or_else(|| panic!("`{reference}` points nowhere in the document"))
}

/// Follows `$ref`s until an object that is not one.
fn deref<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        value = resolve(doc, reference);
    }
    value
}

/// Every `$ref` anywhere in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                found.push(reference.clone());
            }
            map.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

fn json_type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown JSON Schema type `{other}`"),
    }
}

/// Whether `value` is what `schema` describes; what is not, in `errors`.
/// Strict where the document should be exact: an object with declared
/// `properties` and no `additionalProperties` may hold nothing else.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = deref(doc, schema);
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let fits = options
            .iter()
            .filter(|option| {
                let mut inner = Vec::new();
                conforms(doc, option, value, at, &mut inner);
                inner.is_empty()
            })
            .count();
        if fits != 1 {
            errors.push(format!("{at}: {fits} of oneOf fit {value}"));
        }
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
        let fits = options.iter().any(|option| {
            let mut inner = Vec::new();
            conforms(doc, option, value, at, &mut inner);
            inner.is_empty()
        });
        if !fits {
            errors.push(format!("{at}: no anyOf fits {value}"));
        }
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        conforms(doc, part, value, at, errors);
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(name)) => vec![name.as_str()],
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| json_type_matches(t, value)) {
        errors.push(format!("{at}: {value} is not of type {types:?}"));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Value::Object(fields) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !fields.contains_key(name) {
                errors.push(format!("{at}: required `{name}` is missing"));
            }
        }
        for (name, field) in fields {
            let at = format!("{at}.{name}");
            match (
                properties.and_then(|p| p.get(name)),
                schema.get("additionalProperties"),
            ) {
                (Some(declared), _) => conforms(doc, declared, field, &at, errors),
                (None, Some(Value::Bool(true))) => {}
                (None, Some(extra @ Value::Object(_))) => conforms(doc, extra, field, &at, errors),
                (None, _) if properties.is_some() => {
                    errors.push(format!("{at}: not in the schema"));
                }
                (None, _) => {}
            }
        }
    }
    if let (Value::Array(items), Some(item)) = (value, schema.get("items")) {
        for (n, element) in items.iter().enumerate() {
            conforms(doc, item, element, &format!("{at}[{n}]"), errors);
        }
    }
}

/// Asserts `value` is what `schema` describes.
fn assert_conforms(doc: &Value, schema: &Value, value: &Value, what: &str) {
    let mut errors = Vec::new();
    conforms(doc, schema, value, "$", &mut errors);
    assert!(errors.is_empty(), "{what}: {errors:#?}\nin {value}");
}

/// The operations of the document: (method in capitals, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_uppercase(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

/// The routes of `router.rs` under `/api/v1/`, and `/metrics`: (method, path).
fn router_routes() -> BTreeSet<(String, String)> {
    let text = include_str!("../src/router.rs");
    let mut routes = BTreeSet::new();
    for chunk in text.split(".route(").skip(1) {
        // the arguments of `.route(`: up to the parenthesis that closes it
        let mut depth = 1;
        let mut end = chunk.len();
        for (i, c) in chunk.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let arguments = &chunk[..end];
        let Some(path) = arguments.split('"').nth(1) else {
            continue;
        };
        if !path.starts_with("/api/v1/") && path != "/metrics" {
            continue;
        }
        for method in METHODS {
            let called = arguments
                .match_indices(&format!("{method}("))
                .any(|(i, _)| !arguments[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
            if called {
                routes.insert((method.to_uppercase(), path.to_owned()));
            }
        }
    }
    routes
}

/// The README's API table as the document makes it.
fn readme_table(doc: &Value) -> String {
    let mut table = String::from("| Method | Path | What it does |\n| --- | --- | --- |\n");
    for (method, path, operation) in operations(doc) {
        let summary = operation["summary"].as_str().unwrap_or_default();
        table.push_str(&format!("| `{method}` | `{path}` | {summary} |\n"));
    }
    table
}

/// The (method, path) rows of every table in the README.
fn readme_rows(readme: &str) -> BTreeSet<(String, String)> {
    readme
        .lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix("| `")?.split("` | `");
            let method = cells.next()?;
            let path = cells.next()?.split('`').next()?;
            METHODS
                .contains(&method.to_lowercase().as_str())
                .then(|| (method.to_owned(), path.to_owned()))
        })
        .collect()
}

/// The document as the server makes it, without a server.
fn document() -> Value {
    let doc = <loggerflow_server::api::openapi::ApiDoc as utoipa::OpenApi>::openapi();
    serde_json::from_str(&doc.to_json().expect("JSON")).expect("a document")
}

#[test]
fn the_document_lists_the_routes_of_the_router_and_the_readme_its_operations() {
    let doc = document();
    // exactly the routes of router.rs; ids unique, path parameters declared
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    assert_eq!(
        documented,
        router_routes(),
        "documented operations (left) and the /api/v1/ routes of router.rs (right)"
    );
    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&doc) {
        let id = operation["operationId"].as_str().expect("an operationId");
        assert!(ids.insert(id.to_owned()), "operationId `{id}` twice");
        assert!(
            operation["summary"].is_string(),
            "{method} {path}: a summary"
        );
        let in_path: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split('}').next())
            .collect();
        let declared: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| deref(&doc, p))
            .filter(|p| p["in"] == "path")
            .inspect(|p| assert_eq!(p["required"], true, "{method} {path}: {p}"))
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(in_path, declared, "{method} {path}: path parameters");
    }

    // the README's API table is the document's
    let readme = include_str!("../../README.md");
    assert_eq!(
        readme_rows(readme),
        documented,
        "the README's API table (left) and the document (right)"
    );
    let table = readme_table(&doc);
    assert!(
        readme.contains(&table),
        "the README's API table is out of date; it should read:\n\n{table}"
    );
}

#[test]
fn the_checker_refuses_what_a_schema_does_not_describe() {
    let doc = document();
    let refuses = |schema: &Value, value: Value| {
        let mut errors = Vec::new();
        conforms(&doc, schema, &value, "$", &mut errors);
        assert!(!errors.is_empty(), "{value} passed as {schema}");
    };
    let health = json!({ "$ref": "#/components/schemas/Health" });
    let good = json!({ "status": "ok", "database": "ok", "version": "0.1.0", "protocol": 1 });
    assert_conforms(&doc, &health, &good, "a health answer");
    refuses(
        &health,
        json!({ "status": "ok", "database": "ok", "version": "0.1.0" }),
    );
    refuses(
        &health,
        json!({ "status": "ok", "database": "ok", "version": "0.1.0", "protocol": "1" }),
    );
    let mut extra = good.clone();
    extra["uptime_s"] = json!(3);
    refuses(&health, extra);
    // deep: a field of an item of an array
    let page = json!({ "$ref": "#/components/schemas/Reports" });
    let report = json!({ "group_id": 1, "instance_id": null, "report": {}, "cursor": "1:x",
        "release": null, "environment": "production" });
    let good = json!({ "project": "Shop", "reports": [report], "next": null });
    assert_conforms(&doc, &page, &good, "a page of reports");
    let mut bad = good.clone();
    bad["reports"][0]["group_id"] = json!("1");
    refuses(&page, bad);
    let error = json!({ "$ref": "#/components/schemas/ApiError" });
    assert_conforms(
        &doc,
        &error,
        &json!({ "type": "error", "error": "x", "message": "y" }),
        "a refusal",
    );
    refuses(
        &error,
        json!({ "type": "ack", "error": "x", "message": "y" }),
    );
}

#[tokio::test]
async fn the_document_is_valid_and_every_operation_in_it_answers_as_documented() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(
        &db.url,
        &["--auth", "ops:s3cret", "--allow-private-targets"],
    );

    // the document is behind the login like the rest of the API
    let refused = call(&server, "GET", "/api/v1/openapi.json", None, false).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    let answer = call(&server, "GET", "/api/v1/openapi.json", None, true).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.content_type.starts_with("application/json"));

    // OpenAPI 3.1, parsed by oas3; every reference resolves
    let spec = oas3::from_json(&answer.text).expect("an OpenAPI 3.1 document");
    let version = spec
        .validate_version()
        .expect("a supported OpenAPI version");
    assert_eq!((version.major, version.minor), (3, 1));
    assert_eq!(spec.info.version, env!("CARGO_PKG_VERSION"));
    for (path, method, operation) in spec.operations() {
        let what = format!("{method} {path}");
        for response in operation.responses.iter().flatten().map(|(_, r)| r) {
            response
                .resolve(&spec)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
        }
        operation
            .parameters(&spec)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        operation
            .request_body(&spec)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }
    let doc: Value = serde_json::from_str(&answer.text).expect("JSON");
    let mut found = Vec::new();
    references(&doc, &mut found);
    for reference in &found {
        resolve(&doc, reference);
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["basic"]["type"], "http");
    assert_eq!(schemes["basic"]["scheme"], "basic");
    assert_eq!(
        (
            &schemes["session"]["type"],
            &schemes["session"]["in"],
            &schemes["session"]["name"]
        ),
        (&json!("apiKey"), &json!("cookie"), &json!("lf_session"))
    );

    // the same document as the one the README and the router are checked against
    assert_eq!(doc, document());

    // a project with an error, an alarm connected to it (its message fails:
    // nothing listens on port 9), a heartbeat with readings
    let seed =
        json!({ "kind": "webhook", "name": "seed", "fields": { "url": "http://127.0.0.1:9/" } });
    let created = call(&server, "POST", "/api/v1/alarms", Some(&seed), true).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let connect = json!({ "alarm": "seed", "triggers": ["new_error"] });
    let connected = call(
        &server,
        "POST",
        "/api/v1/projects/Shop/alarms",
        Some(&connect),
        true,
    )
    .await;
    assert_eq!(connected.status, 200, "{}", connected.text);
    // from a release, so the errors page's lists of releases are not empty
    let report_id = new_id();
    let mut first = report("Shop", &report_id, 1);
    first["report"]["release"] = json!("1.0.0");
    let messages = json!([
        hello("Shop", "shop-1", 30, "webhook"),
        heartbeat(12.5),
        first
    ]);
    let (status, reply) = server
        .post("/loggerflow/v1/batch", &batch("shop-1", messages))
        .await;
    assert_eq!(status, 200, "{reply}");
    let errors = call(&server, "GET", "/api/v1/projects/Shop/errors", None, true).await;
    let errors: Value = serde_json::from_str(&errors.text).expect("JSON");
    let group = errors["groups"][0]["id"].as_i64().expect("a group");

    // every operation: refused without a login (but health), answered with it
    let mut sweep = operations(&doc);
    sweep.sort_by_key(|(method, path, _)| match (method.as_str(), path.as_str()) {
        ("GET", _) => 0,
        // the alarm the other POSTs use
        ("POST", "/api/v1/alarms") => 1,
        ("POST", _) => 2,
        _ => 3,
    });
    for (method, template, operation) in &sweep {
        let what = format!("{method} {template}");
        let path = template
            .replace("{project}", "Shop")
            .replace("{group}", &group.to_string())
            .replace("{name}", "hook")
            .replace("{id}", &report_id);
        assert!(
            !path.contains('{'),
            "{what}: a path parameter the test has no value for"
        );
        let body = match (method.as_str(), template.as_str()) {
            ("POST", "/api/v1/alarms") => Some(json!({
                "kind": "webhook", "name": "hook", "fields": { "url": "http://127.0.0.1:9/" }
            })),
            ("POST", "/api/v1/projects/{project}/alarms") => Some(
                json!({ "alarm": "hook", "triggers": ["new_error", "every_nth"], "every_nth": 3 }),
            ),
            ("POST", "/api/v1/projects/{project}/errors/{group}/state") => {
                Some(json!({ "state": "resolved" }))
            }
            _ => None,
        };
        let body_schema = operation["requestBody"]["content"]["application/json"].get("schema");
        assert_eq!(
            body.is_some(),
            body_schema.is_some(),
            "{what}: a request body"
        );
        if let (Some(body), Some(schema)) = (&body, body_schema) {
            assert_conforms(&doc, schema, body, &format!("{what}: the body sent"));
        }
        let responses = &operation["responses"];

        let open = operation["security"] == json!([{}]);
        if !open {
            let refused = call(&server, method, &path, body.as_ref(), false).await;
            assert_eq!(
                refused.status, 401,
                "{what} without a login: {}",
                refused.text
            );
            check_answer(
                &doc,
                responses,
                &refused,
                &format!("{what} without a login"),
            );
        }
        let answer = call(&server, method, &path, body.as_ref(), true).await;
        assert!(
            (200..300).contains(&answer.status),
            "{what}: {} {}",
            answer.status,
            answer.text
        );
        check_answer(&doc, responses, &answer, &what);
        // the lists are not empty, so their items' schemas are checked too
        if method == "GET" && answer.content_type.starts_with("application/json") {
            let body: Value = serde_json::from_str(&answer.text).expect("JSON");
            for (name, value) in body.as_object().into_iter().flatten() {
                let empty = value.as_array().is_some_and(Vec::is_empty);
                assert!(!empty, "{what}: `{name}` is empty, its items unchecked");
            }
        }
    }

    // refusals: the statuses they are documented with, in their shape
    let refusals: [(&str, &str, &str, Option<Value>, u16); 7] = [
        (
            "GET",
            "/api/v1/projects/{project}/errors",
            "/api/v1/projects/Nope/errors",
            None,
            404,
        ),
        (
            "GET",
            "/api/v1/projects/{project}/errors",
            "/api/v1/projects/Shop/errors?state=bogus",
            None,
            400,
        ),
        (
            "GET",
            "/api/v1/projects/{project}/metrics",
            "/api/v1/projects/Shop/metrics?window=2w",
            None,
            400,
        ),
        (
            "POST",
            "/api/v1/projects/{project}/errors/{group}/state",
            "/api/v1/projects/Shop/errors/abc/state",
            Some(json!({ "state": "open" })),
            400,
        ),
        (
            "POST",
            "/api/v1/alarms",
            "/api/v1/alarms",
            // `seed` exists
            Some(seed.clone()),
            409,
        ),
        (
            "POST",
            "/api/v1/alarms",
            "/api/v1/alarms",
            Some(json!({ "kind": 7 })),
            422,
        ),
        (
            "DELETE",
            "/api/v1/alarms/{name}",
            "/api/v1/alarms/nope",
            None,
            404,
        ),
    ];
    for (method, template, path, body, status) in refusals {
        let what = format!("{method} {path}");
        let operation = &doc["paths"][template][method.to_lowercase()];
        let answer = call(&server, method, path, body.as_ref(), true).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.text);
        check_answer(&doc, &operation["responses"], &answer, &what);
    }
}

/// Asserts `answer` has a status `responses` declares, a content type it
/// declares for it, and (JSON) a body its schema describes.
fn check_answer(doc: &Value, responses: &Value, answer: &Answer, what: &str) {
    let declared = responses
        .get(answer.status.to_string())
        .map(|r| deref(doc, r))
        .unwrap_or_else(|| panic!("{what}: status {} is not documented", answer.status));
    let Some(content) = declared.get("content").and_then(Value::as_object) else {
        assert!(
            answer.text.is_empty(),
            "{what}: a body where none is documented"
        );
        return;
    };
    let essence = |media: &str| {
        media
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let media = content
        .iter()
        .find(|(media, _)| essence(media) == essence(&answer.content_type))
        .map(|(_, media)| media)
        .unwrap_or_else(|| {
            panic!(
                "{what}: content type `{}` is not documented for {}",
                answer.content_type, answer.status
            )
        });
    if essence(&answer.content_type) == "application/json" {
        let body: Value = serde_json::from_str(&answer.text).expect("JSON");
        assert_conforms(doc, &media["schema"], &body, what);
    }
}

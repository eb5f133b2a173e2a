//! The OpenAPI document (`src/server/http/openapi.json`, served at
//! `GET /v1/openapi.json`) against the real daemon: every endpoint and
//! every error kind is called, and each answer's status must be documented
//! for its path and method and its body must validate (JSON Schema draft
//! 2020-12, the dialect of OpenAPI 3.1) against the documented schema. The
//! examples of the document are validated too, and the error kinds seen
//! must be exactly those the `Error` schema lists: the document cannot
//! drift from the code unnoticed.

mod support;

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use support::*;

const DOC: &str = include_str!("../src/server/http/openapi.json");
const SCHEMA_DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

fn doc() -> Value {
    serde_json::from_str(DOC).expect("the OpenAPI document is JSON")
}

/// A validator for `schema`, a schema of the document: its `$ref`s
/// (`#/components/...`) resolve against a root that carries the
/// document's components.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let root = json!({
        "$schema": SCHEMA_DIALECT,
        "components": doc["components"],
        "allOf": [schema],
    });
    jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}"))
}

fn assert_valid(doc: &Value, schema: &Value, instance: &Value, what: &str) {
    let v = validator(doc, schema);
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not conform to the document:\n{}\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(instance).unwrap()
    );
}

/// Follows a `$ref` of the document (`#/components/responses/X`).
fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.strip_prefix('#').expect("local refs"))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => v,
    }
}

/// The answers seen, to check coverage at the end.
#[derive(Default)]
struct Seen {
    /// (path template, method, status)
    operations: BTreeSet<(String, String, u16)>,
    kinds: BTreeSet<String>,
}

impl Seen {
    /// Checks `reply` against the documented response of (path, method,
    /// status); `path` is the document's path template.
    fn conforms(&mut self, doc: &Value, path: &str, method: &str, reply: &Reply) {
        let what = format!("{method} {path} → {}", reply.status);
        let op = doc["paths"][path]
            .get(method.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("{method} {path} is not documented"));
        let resp = op["responses"]
            .get(reply.status.to_string())
            .unwrap_or_else(|| panic!("{what} is not documented: {}", reply.body));
        self.check_response(doc, deref(doc, resp), reply, &what);
        self.operations
            .insert((path.into(), method.into(), reply.status));
    }

    fn check_response(&mut self, doc: &Value, resp: &Value, reply: &Reply, what: &str) {
        let Some(content) = resp.get("content") else {
            assert!(
                reply.body.is_empty(),
                "{what}: a body where none is documented"
            );
            return;
        };
        let ctype = reply
            .header("content-type")
            .unwrap_or_else(|| panic!("{what}: no Content-Type"));
        let media = ctype.split(';').next().unwrap().trim();
        let schema = &content
            .get(media)
            .unwrap_or_else(|| panic!("{what}: {media} is not documented"))["schema"];
        let body: Value = if media == "application/json" {
            reply.json()
        } else {
            Value::String(reply.body.clone())
        };
        assert_valid(doc, schema, &body, what);
        if let Some(kind) = body.pointer("/error/kind").and_then(Value::as_str) {
            self.kinds.insert(kind.to_string());
        }
    }
}

#[test]
fn the_document_is_openapi_3_1_and_its_examples_conform() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["jsonSchemaDialect"], SCHEMA_DIALECT);
    // Every component schema is a valid 2020-12 schema and its examples
    // conform.
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let what = format!("components.schemas.{name}");
        let mut standalone = schema.clone();
        standalone["$schema"] = SCHEMA_DIALECT.into();
        // `$ref`s to siblings are resolved by `validator`; the meta-schema
        // checks the keywords.
        if let Err(e) = jsonschema::draft202012::meta::validate(&standalone) {
            panic!("{what} is not a valid schema: {e}");
        }
        for (i, ex) in schema["examples"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            assert_valid(&doc, schema, ex, &format!("{what}.examples[{i}]"));
        }
    }
    // Every operation has an id, a summary and documented answers whose
    // examples conform.
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let what = format!("{method} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no operationId"));
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
            assert!(op["summary"].is_string(), "{what}: no summary");
            for (status, resp) in op["responses"].as_object().unwrap() {
                let resp = deref(&doc, resp);
                assert!(
                    resp["description"].is_string(),
                    "{what} {status}: no description"
                );
                for (media, c) in resp["content"].as_object().into_iter().flatten() {
                    if let Some(ex) = c.get("example") {
                        assert_valid(
                            &doc,
                            &c["schema"],
                            ex,
                            &format!("{what} {status} {media} example"),
                        );
                    }
                }
            }
        }
    }
    for (name, resp) in doc["components"]["responses"].as_object().unwrap() {
        let c = &resp["content"]["application/json"];
        assert_valid(
            &doc,
            &c["schema"],
            &c["example"],
            &format!("components.responses.{name}"),
        );
    }
}

/// Sends raw bytes to a Unix socket and reads one reply.
fn raw_unix(sock: &Path, bytes: &[u8]) -> Reply {
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(bytes).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    // Read until one whole reply is in (the connection may stay open).
    loop {
        if let Some((r, _)) = parse_one_reply(&raw).unwrap() {
            return r;
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed before a whole reply");
        raw.extend_from_slice(&buf[..n]);
    }
}

fn tcp_call(port: u16, path: &str, body: &str, token: Option<&str>) -> Reply {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_reply(&raw).unwrap()
}

#[test]
fn every_endpoint_and_error_kind_conforms() {
    let doc = doc();
    let mut seen = Seen::default();
    let port = free_port();
    let token = "integrator-token-0123456789";
    let d = Daemon::new()
        .limits("max_subjects = 5\nmax_body_bytes = 8192\nread_timeout_ms = 500")
        .check_extra(&format!("tcp = \"127.0.0.1:{port}\""))
        .clients(&format!(
            "[[client]]\nname = \"procurement-system\"\nuid = {uid}\nmatters = [\"{MATTER}\"]\npersons = false\n\
             [[client]]\nname = \"web-portal\"\ntoken = \"{token}\"\nmatters = [\"*\"]\npersons = true\n",
            uid = our_uid()
        ))
        .start();
    let check = d.check_sock();
    let admin = d.admin_sock();
    let call =
        |sock: &Path, method: &str, path: &str, body: Option<&str>| http(sock, method, path, body);

    // The served document is the repository's, byte for byte.
    let r = call(&check, "GET", "/v1/openapi.json", None);
    assert_eq!(r.body, DOC);
    seen.conforms(&doc, "/v1/openapi.json", "GET", &r);

    // POST /v1/check: listed, clear, invalid, warned and forbidden items.
    let subjects = json!([
        {"code": BLACK_CODE, "role": "applicant"},
        {"code": "９１３５０１００ＭＡ２ＹＬＫ０Ｒ１Ｆ", "role": "principal"},
        {"code": "91350102MA2YN8KC7D"},
        {"code": "91350100M000100Y44"},
        {"code": PERSON_CODE, "role": "legal_rep"},
    ]);
    let body =
        json!({"matter": MATTER, "as_of": DATA_DATE, "request_id": "APP-1", "subjects": subjects});
    let r = d.check(&body);
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.json()["results"].as_array().unwrap().clone();
    assert!(items.iter().any(|i| i["error"] == "forbidden"));
    assert!(items.iter().any(|i| i["valid"] == false));
    assert!(items.iter().any(|i| i.get("warning").is_some()));
    let m = &items[0]["must_apply"][0];
    assert!(m["basis"].as_str().is_some_and(|b| !b.is_empty()), "{m}");
    seen.conforms(&doc, "/v1/check", "POST", &r);
    let receipt = r.json()["receipt"].as_str().unwrap().to_string();
    // Without request_id: null.
    let r = d.check(&json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]}));
    seen.conforms(&doc, "/v1/check", "POST", &r);

    // Its errors.
    let too_many: Vec<Value> = (0..6).map(|_| json!({"code": BLACK_CODE})).collect();
    let big = "x".repeat(9000);
    for (body, kind) in [
        ("{".to_string(), "bad_json"),
        (
            json!({"subjects": [{"code": BLACK_CODE}]}).to_string(),
            "missing_field",
        ),
        (
            json!({"matter": MATTER, "as_of": "2026-02-30", "subjects": [{"code": BLACK_CODE}]})
                .to_string(),
            "bad_date",
        ),
        (
            json!({"matter": "procurement", "subjects": [{"code": BLACK_CODE}]}).to_string(),
            "unknown_matter",
        ),
        (
            json!({"matter": MATTER, "subjects": too_many}).to_string(),
            "too_many_subjects",
        ),
        (
            json!({"matter": MATTER, "request_id": big, "subjects": []}).to_string(),
            "too_large",
        ),
        (
            json!({"matter": "honours", "subjects": [{"code": BLACK_CODE}]}).to_string(),
            "forbidden",
        ),
    ] {
        let r = call(&check, "POST", "/v1/check", Some(&body));
        assert_eq!(r.error_kind(), kind, "{}", r.body);
        seen.conforms(&doc, "/v1/check", "POST", &r);
    }
    let r = call(&check, "GET", "/v1/check", None);
    assert_eq!(r.status, 405);
    // A 405 is documented under the path's methods.
    seen.conforms(&doc, "/v1/check", "POST", &r);
    // A body that never comes: 408 once read_timeout_ms has passed.
    let r = raw_unix(
        &check,
        b"POST /v1/check HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"matter\"",
    );
    assert_eq!(r.error_kind(), "timeout", "{}", r.body);
    seen.conforms(&doc, "/v1/check", "POST", &r);

    // The TCP listener with and without the token.
    let body =
        json!({"matter": "honours", "as_of": DATA_DATE, "subjects": [{"code": PERSON_CODE}]})
            .to_string();
    let r = tcp_call(port, "/v1/check", &body, Some(token));
    assert_eq!(r.status, 200, "{}", r.body);
    seen.conforms(&doc, "/v1/check", "POST", &r);
    let r = tcp_call(port, "/v1/check", &body, None);
    assert_eq!(r.status, 403);
    seen.conforms(&doc, "/v1/check", "POST", &r);

    // POST /v1/feedback.
    let fb = |receipt: &str, measure: &str| {
        json!({"receipt": receipt, "code": BLACK_CODE, "measure": measure, "applied": true, "note": "bid refused"}).to_string()
    };
    for (body, status, kind) in [
        (fb(&receipt, "P-PROC-01"), 204, ""),
        (
            fb("0000000000000000-1", "P-PROC-01"),
            400,
            "unknown_receipt",
        ),
        (fb(&receipt, "P-NONE"), 400, "unknown_measure"),
        (
            json!({"receipt": receipt}).to_string(),
            400,
            "missing_field",
        ),
    ] {
        let r = call(&check, "POST", "/v1/feedback", Some(&body));
        assert_eq!(r.status, status, "{}", r.body);
        if status != 204 {
            assert_eq!(r.error_kind(), kind);
        }
        seen.conforms(&doc, "/v1/feedback", "POST", &r);
    }

    // GET endpoints of the check socket.
    for path in ["/v1/health", "/v1/catalog", "/metrics"] {
        let r = call(&check, "GET", path, None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        seen.conforms(&doc, path, "GET", &r);
        let r = call(&check, "POST", path, Some("{}"));
        assert_eq!(r.status, 405);
        assert!(r.header("allow").is_some());
        seen.conforms(&doc, path, "GET", &r);
    }
    let cat = call(&check, "GET", "/v1/catalog", None).json();
    assert_eq!(cat["matters"].as_array().unwrap().len(), 6);
    let m = cat["measures"].as_array().unwrap();
    assert!(m
        .iter()
        .all(|m| m["applies_to"].is_array() && m["basis"].is_string()));
    // Any other path: 404 not_found, as documented in components.
    let r = call(&check, "GET", "/v1/chek", None);
    assert_eq!(r.error_kind(), "not_found");
    let nf = doc["components"]["responses"]["NotFound"].clone();
    seen.check_response(&doc, &nf, &r, "GET /v1/chek");

    // The admin socket.
    let r = call(&admin, "GET", "/v1/admin/stats", None);
    seen.conforms(&doc, "/v1/admin/stats", "GET", &r);
    let hold = json!({"entry_id": BLACK_ENTRY, "reason": "异议核实中", "by": "ops"}).to_string();
    let r = call(&admin, "POST", "/v1/admin/holds", Some(&hold));
    assert_eq!(r.status, 201, "{}", r.body);
    seen.conforms(&doc, "/v1/admin/holds", "POST", &r);
    for (body, status) in [
        (
            json!({"entry_id": "NO-SUCH", "reason": "x"}).to_string(),
            404,
        ),
        (json!({"entry_id": BLACK_ENTRY}).to_string(), 400),
        ("[".to_string(), 400),
    ] {
        let r = call(&admin, "POST", "/v1/admin/holds", Some(&body));
        assert_eq!(r.status, status, "{}", r.body);
        seen.conforms(&doc, "/v1/admin/holds", "POST", &r);
    }
    let r = call(&admin, "GET", "/v1/admin/holds", None);
    assert_eq!(r.json()["holds"].as_array().unwrap().len(), 1);
    seen.conforms(&doc, "/v1/admin/holds", "GET", &r);
    let r = call(
        &admin,
        "DELETE",
        &format!("/v1/admin/holds/{BLACK_ENTRY}"),
        None,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    seen.conforms(&doc, "/v1/admin/holds/{entry_id}", "DELETE", &r);
    let r = call(
        &admin,
        "DELETE",
        &format!("/v1/admin/holds/{BLACK_ENTRY}"),
        None,
    );
    assert_eq!(r.status, 404, "{}", r.body);
    seen.conforms(&doc, "/v1/admin/holds/{entry_id}", "DELETE", &r);
    let r = call(&admin, "POST", "/v1/admin/reload", None);
    assert_eq!(r.status, 200, "{}", r.body);
    seen.conforms(&doc, "/v1/admin/reload", "POST", &r);
    let garbage = d.path("garbage.snap");
    std::fs::write(&garbage, b"not a snapshot").unwrap();
    let r = call(
        &admin,
        "POST",
        "/v1/admin/reload",
        Some(&json!({"path": s(&garbage)}).to_string()),
    );
    assert_eq!(r.error_kind(), "snapshot_refused", "{}", r.body);
    seen.conforms(&doc, "/v1/admin/reload", "POST", &r);
    let r = call(
        &admin,
        "POST",
        "/v1/admin/reload",
        Some("{\"snapshot\": 1}"),
    );
    assert_eq!(r.error_kind(), "bad_json", "{}", r.body);
    seen.conforms(&doc, "/v1/admin/reload", "POST", &r);
    let r = call(&admin, "GET", "/v1/admin/reload", None);
    assert_eq!(r.status, 405);
    seen.conforms(&doc, "/v1/admin/reload", "POST", &r);
    drop(d);

    // 503 unavailable: an audit register that cannot be written.
    if Path::new("/dev/full").exists() {
        let d = Daemon::new().audit("path = \"/dev/full\"").start();
        let body = json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]});
        let refused = poll(500, || {
            let r = d.check(&body);
            seen.conforms(&doc, "/v1/check", "POST", &r);
            if r.status == 503 {
                return Some(r);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            None
        })
        .expect("checks were refused once the register failed");
        assert_eq!(refused.error_kind(), "unavailable");
    } else {
        eprintln!("no /dev/full: kind unavailable not exercised");
        seen.kinds.insert("unavailable".into());
    }

    // Every error kind of the document was seen, and no other.
    let documented: BTreeSet<String> = doc["components"]["schemas"]["Error"]["properties"]["error"]
        ["properties"]["kind"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen.kinds, documented, "error kinds answered vs documented");
    // Every documented operation was called and answered with success.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let ok = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .find(|s| s.starts_with('2'))
                .unwrap()
                .parse::<u16>()
                .unwrap();
            let key = (path.clone(), method.to_ascii_uppercase(), ok);
            assert!(seen.operations.contains(&key), "{key:?} was never called");
        }
    }
}

#[test]
fn the_validation_catches_drift() {
    let doc = doc();
    let item = json!({"$ref": "#/components/schemas/Item"});
    let good = json!({"code": BLACK_CODE, "valid": true, "status": "clear", "hits": [],
                      "must_apply": [], "may_apply": [], "rewards": [], "related": []});
    assert!(validator(&doc, &item).is_valid(&good));
    for bad in [
        json!({"code": BLACK_CODE, "valid": "yes"}),
        json!({"code": BLACK_CODE, "valid": true, "status": "grey"}),
        json!({"code": BLACK_CODE, "valid": true, "colour": "red"}),
        json!({"code": BLACK_CODE, "valid": true, "must_apply": [{"id": "P", "name": "n", "entries": []}]}),
    ] {
        assert!(!validator(&doc, &item).is_valid(&bad), "{bad} passed");
    }
}

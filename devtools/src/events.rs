//! `sign-events`: API Gateway HTTP API (payload format 2.0) sample events from request bodies.
//!
//! `events/bodies/<function>/<name>.json` holds the exact request body (the source of truth);
//! an optional `events/bodies/<function>/<name>.headers` adds or overrides headers (`name: value`
//! lines), and an optional `<name>.signer` names another of local.env's entries to sign with
//! (TikTok's `second-app`, a named Callbell account). The generated event is
//! `events/<function>/<name>.json`. Everything that is not the body is fixed, so the output is
//! the same on every run.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ingest::testkit::events::sample_event_with;
use ingest::ProviderId;

use crate::error::{Context, Error, Result};

/// `name: value` lines; blank lines and `#` comments are skipped; names are lower-cased as
/// API Gateway does.
fn parse_headers(path: &Path, text: &str) -> Result<BTreeMap<String, String>> {
    let mut headers = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            Error::msg(format!(
                "{}:{}: expected `name: value`",
                path.display(),
                number + 1
            ))
        })?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    Ok(headers)
}

/// Files in `dir` ending in `extension` (without the dot), sorted by name; none when `dir` is
/// missing.
fn files_with_extension(dir: &Path, extension: &str) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == extension) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn file_stem(path: &Path) -> Result<&str> {
    path.file_stem()
        .and_then(|stem| stem.to_str())
        .ok_or_else(|| Error::msg(format!("{}: file name is not UTF-8", path.display())))
}

/// Every event that the bodies produce: (target path, content).
fn generate_all(root: &Path) -> Result<BTreeMap<PathBuf, String>> {
    let mut generated = BTreeMap::new();
    for id in ProviderId::ALL.iter().copied() {
        let bodies_dir = root.join("events/bodies").join(id.function());
        let bodies = files_with_extension(&bodies_dir, "json")?;
        let sidecars = [
            files_with_extension(&bodies_dir, "headers")?,
            files_with_extension(&bodies_dir, "signer")?,
        ];
        for sidecar in sidecars.iter().flatten() {
            if !sidecar.with_extension("json").is_file() {
                return Err(Error::msg(format!(
                    "{} has no body {}",
                    sidecar.display(),
                    sidecar.with_extension("json").display()
                )));
            }
        }
        for body_path in bodies {
            let name = file_stem(&body_path)?;
            let body = fs::read_to_string(&body_path)
                .with_context(|| format!("cannot read {} as UTF-8", body_path.display()))?;
            if !body.is_empty() {
                serde_json::from_str::<serde_json::Value>(&body)
                    .with_context(|| format!("{} is not one JSON document", body_path.display()))?;
            }
            let sidecar = body_path.with_extension("headers");
            let extra_headers = if sidecar.is_file() {
                let text = fs::read_to_string(&sidecar)
                    .with_context(|| format!("cannot read {}", sidecar.display()))?;
                parse_headers(&sidecar, &text)?
            } else {
                BTreeMap::new()
            };
            let signer = body_path.with_extension("signer");
            let credentials = if signer.is_file() {
                let signer = fs::read_to_string(&signer)
                    .with_context(|| format!("cannot read {}", signer.display()))?;
                let signer = signer.trim();
                id.samples()
                    .sign_lasting_as(body.as_bytes(), signer)
                    .ok_or_else(|| {
                        Error::msg(format!(
                            "{}: {id} has no signer {signer:?} in local.env",
                            body_path.with_extension("signer").display()
                        ))
                    })?
            } else {
                id.samples().sign_lasting(body.as_bytes())
            };
            let event = sample_event_with(id, name, &body, &extra_headers, credentials);
            let target = root
                .join("events")
                .join(id.function())
                .join(format!("{name}.json"));
            generated.insert(target, event);
        }
    }
    Ok(generated)
}

/// Generated files that exist but no longer have a body.
fn stale_events(root: &Path, generated: &BTreeMap<PathBuf, String>) -> Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    for id in ProviderId::ALL {
        for path in files_with_extension(&root.join("events").join(id.function()), "json")? {
            if !generated.contains_key(&path) {
                stale.push(path);
            }
        }
    }
    Ok(stale)
}

/// Writes (or with `check`, compares) every event. Returns false when `check` found a
/// difference.
pub fn sign_events(root: &Path, check: bool) -> Result<bool> {
    if !root.join("events/bodies").is_dir() {
        return Err(Error::msg(format!(
            "{} has no events/bodies directory: run from the repository root or pass --root",
            root.display()
        )));
    }
    let generated = generate_all(root)?;
    let stale = stale_events(root, &generated)?;
    let shown = |path: &Path| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string()
    };

    let mut changed = Vec::new();
    for (path, content) in &generated {
        let current = fs::read(path).ok();
        if current.as_deref() != Some(content.as_bytes()) {
            changed.push((path, current.is_none()));
        }
    }

    if check {
        for (path, missing) in &changed {
            let what = if *missing { "missing" } else { "out of date" };
            eprintln!("{what}: {}", shown(path));
        }
        for path in &stale {
            eprintln!("no body for: {}", shown(path));
        }
        let ok = changed.is_empty() && stale.is_empty();
        if ok {
            println!(
                "sign-events: all {} events match their bodies",
                generated.len()
            );
        } else {
            eprintln!("sign-events: events differ from their bodies: run `ingest-dev sign-events`");
        }
        return Ok(ok);
    }

    for (path, _) in &changed {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        fs::write(path, &generated[*path])
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", shown(path));
    }
    for path in &stale {
        fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
        println!("removed {} (its body is gone)", shown(path));
    }
    println!(
        "sign-events: {} events, {} written, {} removed",
        generated.len(),
        changed.len(),
        stale.len()
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        let headers = parse_headers(
            Path::new("x.headers"),
            "# c\n\nX-A: 1\nauthorization:  z \n",
        )
        .unwrap();
        assert_eq!(headers["x-a"], "1");
        assert_eq!(headers["authorization"], "z");
        assert!(parse_headers(Path::new("x.headers"), "oops").is_err());
    }

    #[test]
    fn signer_sidecars_sign_as_another_local_entry() {
        let root = std::env::temp_dir().join(format!("ingest-dev-signer-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let bodies = root.join("events/bodies");
        fs::create_dir_all(bodies.join("callbell")).unwrap();
        fs::create_dir_all(bodies.join("tiktok-shop")).unwrap();
        fs::write(bodies.join("callbell/named.json"), "{}").unwrap();
        fs::write(bodies.join("callbell/named.signer"), "local-brand-b\n").unwrap();
        fs::write(bodies.join("tiktok-shop/second.json"), "{}").unwrap();
        fs::write(bodies.join("tiktok-shop/second.signer"), "second-app").unwrap();
        assert!(sign_events(&root, false).unwrap());
        let read = |path: &str| -> serde_json::Value {
            serde_json::from_slice(&fs::read(root.join(path)).unwrap()).unwrap()
        };
        let named = read("events/callbell/named.json");
        let token = ingest::testkit::local_named("CALLBELL_URL_TOKEN", "local-brand-b").unwrap();
        assert_eq!(named["queryStringParameters"]["token"], token);
        let second = read("events/tiktok-shop/second.json");
        let (key, secret) = ingest::testkit::local_first("TIKTOK_SHOP_APPS")
            .split_once(':')
            .unwrap();
        let expected = ingest::testkit::hmac_hex(secret.as_bytes(), &[key.as_bytes(), b"{}"]);
        assert_eq!(second["headers"]["authorization"], expected);
        fs::write(bodies.join("tiktok-shop/second.signer"), "third-app").unwrap();
        assert!(sign_events(&root, false).is_err(), "an unknown signer");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn sign_and_check_round_trip() {
        let root = std::env::temp_dir().join(format!("ingest-dev-events-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("events/bodies/callbell")).unwrap();
        fs::write(root.join("events/bodies/callbell/x.json"), "{}").unwrap();
        assert!(
            !sign_events(&root, true).unwrap(),
            "missing event must fail the check"
        );
        assert!(sign_events(&root, false).unwrap());
        assert!(sign_events(&root, true).unwrap());
        let event: serde_json::Value =
            serde_json::from_slice(&fs::read(root.join("events/callbell/x.json")).unwrap())
                .unwrap();
        assert_eq!(event["rawPath"], "/webhooks/callbell");
        assert_eq!(event["body"], "{}");
        fs::write(root.join("events/callbell/old.json"), "{}").unwrap();
        assert!(
            !sign_events(&root, true).unwrap(),
            "stale event must fail the check"
        );
        assert!(sign_events(&root, false).unwrap());
        assert!(!root.join("events/callbell/old.json").exists());
        fs::write(root.join("events/bodies/callbell/x.json"), "{\"a\":1}").unwrap();
        assert!(
            !sign_events(&root, true).unwrap(),
            "changed body must fail the check"
        );
        fs::write(root.join("events/bodies/callbell/bad.json"), "{").unwrap();
        assert!(sign_events(&root, false).is_err(), "invalid JSON body");
        fs::remove_dir_all(&root).unwrap();
    }
}

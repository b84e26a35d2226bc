//! The layering of docs/ARCHITECTURE.md, checked: every module of the crate uses only the crate
//! modules its row of the table "What each module may use" names (read from the document
//! itself, so the rules and the check cannot drift apart), and every module has a row.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The table: module → what it may use (`error`, or `providers::ProviderId` for that name only).
fn rules() -> BTreeMap<String, BTreeSet<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ARCHITECTURE.md");
    let text = std::fs::read_to_string(&path).expect("docs/ARCHITECTURE.md");
    let section = text
        .split("## What each module may use")
        .nth(1)
        .expect("docs/ARCHITECTURE.md has its table of what each module may use");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut rules = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let module = cells[1].trim_matches('`').to_string();
        let allowed = cells[2]
            .split(',')
            .filter_map(|entry| entry.split('`').nth(1))
            .map(str::to_string)
            .collect();
        rules.insert(module, allowed);
    }
    assert!(
        rules.len() > 10,
        "the table has a row per module: {rules:?}"
    );
    rules
}

/// Every source file of the crate but the root and the test kit, with its top module.
fn sources() -> Vec<(String, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(&src).expect("under src").to_path_buf();
            let first = relative.components().next()?.as_os_str().to_str()?;
            let module = first.trim_end_matches(".rs").to_string();
            (module != "lib" && module != "testkit").then_some((module, path))
        })
        .collect()
}

/// The `crate::<module>` paths a file's code uses (comments and its unit tests left out), each
/// with the name after the module when there is one (`providers::ProviderId`).
fn uses(code: &str) -> Vec<(String, Option<String>)> {
    let code = code.split("#[cfg(test)]\nmod tests").next().unwrap_or(code);
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            let module = ident(rest);
            let next = rest[module.len()..]
                .strip_prefix("::")
                .map(ident)
                .filter(|n| !n.is_empty());
            found.push((module, next));
        }
    }
    found
}

#[test]
fn every_module_uses_only_what_the_architecture_allows() {
    let rules = rules();
    let mut broken = Vec::new();
    let mut modules = BTreeSet::new();
    for (module, path) in sources() {
        modules.insert(module.clone());
        let Some(allowed) = rules.get(&module) else {
            broken.push(format!("{module}: no row in docs/ARCHITECTURE.md's table"));
            continue;
        };
        let code = std::fs::read_to_string(&path).expect("a source file");
        for (used, name) in uses(&code) {
            let named = name.map(|n| format!("{used}::{n}"));
            let ok = used == module
                || allowed.contains(&used)
                || named.as_ref().is_some_and(|n| allowed.contains(n))
                || (used == "testkit" && allowed.iter().any(|a| a == "testkit"));
            if !ok {
                broken.push(format!(
                    "{} uses crate::{}",
                    path.display(),
                    named.unwrap_or(used)
                ));
            }
        }
    }
    for module in rules.keys() {
        if !modules.contains(module) {
            broken.push(format!(
                "{module}: a row for a module the crate does not have"
            ));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_check_sees_a_use_the_table_does_not_allow() {
    let code = "use crate::storage::keys;\n// crate::handler in a comment\nfn f() {}\n\
                #[cfg(test)]\nmod tests { use crate::handler; }";
    assert_eq!(
        uses(code),
        [("storage".to_string(), Some("keys".to_string()))]
    );
    let rules = rules();
    assert!(
        !rules["verify"].contains("providers"),
        "verify names no provider"
    );
    assert!(
        !rules["providers"].contains("storage"),
        "providers make no keys"
    );
}

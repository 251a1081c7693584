//! The crate's modules form layers: each uses only the modules below it, so
//! there is no cycle and each can be read knowing only what it builds on.
//!
//! ```text
//! diag < protocol < trace < capture < sink < {pipeline, lifecycle} < hook < {layer, backlight}
//! ```
//!
//! This reads the sources (`use crate::…` and `crate::…` paths outside
//! comments) and fails on any edge that goes up or sideways.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module and its layer: a module may use only lower layers.
const LAYERS: &[(&str, u8)] = &[
    ("diag", 0),
    ("protocol", 1),
    ("trace", 2),
    ("capture", 3),
    ("sink", 4),
    ("pipeline", 5),
    ("lifecycle", 5),
    ("hook", 6),
    ("layer", 7),
    ("backlight", 7),
];

fn layer_of(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules `crate::X` names in `code` (one line, comments removed).
fn used(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        found.push(name);
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut wrong = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&root).expect("under src");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default()
            .trim_end_matches(".rs")
            .to_owned();
        if first == "lib" {
            continue; // the root declares and re-exports
        }
        let Some(own) = layer_of(&first) else {
            wrong.insert(format!("{first}: a module missing from LAYERS"));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read a source");
        let mut in_use_block = false;
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
            // a multi-line `use crate::{a, b}` names its modules on later lines
            let mut names = used(code);
            if in_use_block {
                names.extend(
                    code.split([',', '{', '}', ' ', ';'])
                        .filter(|w| !w.is_empty())
                        .filter_map(|w| w.split("::").next())
                        .map(str::to_owned),
                );
            }
            if code.trim_start().starts_with("use crate::{") && !code.contains('}') {
                in_use_block = true;
            } else if in_use_block && code.contains("};") {
                in_use_block = false;
            }
            for name in names {
                if name == first || name.is_empty() {
                    continue;
                }
                match layer_of(&name) {
                    Some(other) if other < own => {}
                    Some(_) => {
                        wrong.insert(format!("{} uses {name}", relative.display()));
                    }
                    None if name.chars().next().is_some_and(char::is_uppercase) => {
                        wrong.insert(format!(
                            "{} uses the root's re-export {name}: name its module",
                            relative.display()
                        ));
                    }
                    None => {}
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "edges against the layers:\n{}",
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    );
}

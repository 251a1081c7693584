//! Embeds the dashboard's wasm bundle when `scripts/bundle` has built it
//! (into `target/site/pkg`, or `$LOGGERFLOW_BUNDLE_DIR`). Without it the
//! server still serves every page, as plain HTML without islands.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(bundle)");
    println!("cargo::rerun-if-env-changed=LOGGERFLOW_BUNDLE_DIR");
    let dir = match std::env::var_os("LOGGERFLOW_BUNDLE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let manifest =
                PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| manifest.join("..").join("target"));
            target.join("site").join("pkg")
        }
    };
    // watching a directory that exists keeps cargo from re-running this on
    // every build
    let _ = std::fs::create_dir_all(&dir);
    println!("cargo::rerun-if-changed={}", dir.display());
    let js = dir.join("loggerflow_ui.js");
    let wasm = dir.join("loggerflow_ui_bg.wasm");
    let (Ok(js_bytes), Ok(wasm_bytes)) = (std::fs::read(&js), std::fs::read(&wasm)) else {
        println!(
            "cargo::warning=no dashboard bundle in {} (run scripts/bundle): pages are served without islands",
            dir.display()
        );
        return;
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    js_bytes.hash(&mut hasher);
    wasm_bytes.hash(&mut hasher);
    println!("cargo::rustc-cfg=bundle");
    println!("cargo::rustc-env=LOGGERFLOW_BUNDLE_JS={}", js.display());
    println!("cargo::rustc-env=LOGGERFLOW_BUNDLE_WASM={}", wasm.display());
    println!(
        "cargo::rustc-env=LOGGERFLOW_BUNDLE_VERSION={:016x}",
        hasher.finish()
    );
}

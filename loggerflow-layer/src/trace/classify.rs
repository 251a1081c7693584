//! Deciding which frames are "yours" (the application's own code) and which
//! belong to dependencies, the standard library or the runtime.

use std::fmt;
use std::sync::Arc;

use crate::protocol::Frame;

/// Crates whose frames are never yours, whatever their paths say.
const NEVER_YOURS: &[&str] = &[
    "std",
    "core",
    "alloc",
    "tokio",
    "tracing",
    "tracing_core",
    "tracing_subscriber",
    "loggerflow_layer",
    "backtrace",
];

/// Path fragments of sources that are never yours: the toolchain's sources
/// and the crates cargo downloaded.
const DEPENDENCY_PATHS: &[&str] = &[
    "/rustc/",
    "/.cargo/registry/",
    "/.cargo/git/",
    "/lib/rustlib/src/",
];

type Predicate = Arc<dyn Fn(&Frame) -> bool + Send + Sync>;

/// Decides whether a frame is yours.
///
/// The default rules: a frame is yours when its function belongs to a crate
/// you named with [`crates`](Classifier::crates), or when its source file lies
/// outside the toolchain and cargo's download folders (so every crate of the
/// calling package's workspace is yours). Frames of std, core, alloc, tokio,
/// tracing and this crate are never yours unless you name them. A frame
/// without a source file is yours only when its crate is named or is the
/// running executable's own crate. A predicate given with
/// [`predicate`](Classifier::predicate) replaces all of this.
#[derive(Clone, Default)]
pub struct Classifier {
    crates: Vec<String>,
    exe_crate: Option<String>,
    predicate: Option<Predicate>,
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classifier")
            .field("crates", &self.crates)
            .field("exe_crate", &self.exe_crate)
            .field("predicate", &self.predicate.is_some())
            .finish()
    }
}

impl Classifier {
    /// The default rules, with the running executable's crate as yours.
    pub fn new() -> Self {
        Self {
            crates: Vec::new(),
            exe_crate: exe_crate_name(),
            predicate: None,
        }
    }

    /// Adds crates (by crate name, `my_app` or `my-app`) whose frames are yours.
    #[must_use]
    pub fn crates<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.crates
            .extend(names.into_iter().map(|n| n.into().replace('-', "_")));
        self
    }

    /// Replaces every rule with `predicate`.
    #[must_use]
    pub fn predicate(mut self, predicate: impl Fn(&Frame) -> bool + Send + Sync + 'static) -> Self {
        self.predicate = Some(Arc::new(predicate));
        self
    }

    /// Whether `frame` (whose `yours` flag is ignored) is yours.
    pub fn is_yours(&self, frame: &Frame) -> bool {
        if let Some(predicate) = &self.predicate {
            return predicate(frame);
        }
        let krate = crate_of(&frame.function);
        if !krate.is_empty() && self.crates.iter().any(|c| c == krate) {
            return true;
        }
        if NEVER_YOURS.contains(&krate) {
            return false;
        }
        match &frame.file {
            // inlined frames may carry a bare name (`main`, `{closure#0}`): the path decides
            Some(file) => file.ends_with(".rs") && !is_dependency_path(file) && !is_own_path(file),
            None => !krate.is_empty() && self.exe_crate.as_deref() == Some(krate),
        }
    }
}

/// Whether a source path belongs to the toolchain or a downloaded crate.
pub fn is_dependency_path(file: &str) -> bool {
    let file = file.replace('\\', "/");
    DEPENDENCY_PATHS.iter().any(|p| file.contains(p))
        || file.starts_with("library/")
        || file.starts_with("/rustc/")
}

/// Whether a source path lies in this crate (which is never yours, even
/// when your workspace builds it from a local path).
pub(crate) fn is_own_path(file: &str) -> bool {
    let own = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");
    file.starts_with(own)
}

/// The crate a demangled function name belongs to.
///
/// `my_app::run::{{closure}}` → `my_app`; `<my_app::Foo as core::fmt::Debug>::fmt`
/// → `my_app` (the implementing type decides); a bare symbol such as `main` or
/// `__libc_start_main` → `""`.
pub fn crate_of(function: &str) -> &str {
    let mut name = function.trim_start_matches(['<', '&', '*', ' ']);
    name = name.trim_start_matches("mut ").trim_start_matches("dyn ");
    match name.find("::") {
        Some(end) => {
            let krate = &name[..end];
            if krate.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                krate
            } else {
                ""
            }
        }
        None => "",
    }
}

/// The executable's crate name: its file stem, without the hash cargo appends
/// to test binaries, with `-` as `_`.
fn exe_crate_name() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let stem = exe.file_stem()?.to_str()?;
    let stem = match stem.rsplit_once('-') {
        Some((head, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            head
        }
        _ => stem,
    };
    Some(stem.replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: Option<&str>) -> Frame {
        Frame {
            function: function.into(),
            file: file.map(Into::into),
            line: Some(1),
            yours: false,
        }
    }

    #[test]
    fn crate_names_are_parsed_from_symbols() {
        assert_eq!(crate_of("my_app::run::{{closure}}"), "my_app");
        assert_eq!(crate_of("<my_app::Foo as core::fmt::Debug>::fmt"), "my_app");
        assert_eq!(
            crate_of("<alloc::boxed::Box<F,A> as core::ops::function::FnOnce<Args>>::call_once"),
            "alloc"
        );
        assert_eq!(
            crate_of("<&mut my_app::X as core::ops::Fn>::call"),
            "my_app"
        );
        assert_eq!(crate_of("main"), "");
        assert_eq!(crate_of("__libc_start_main"), "");
    }

    #[test]
    fn local_sources_are_yours_and_dependencies_are_not() {
        let c = Classifier::default();
        assert!(c.is_yours(&frame("my_app::handler", Some("/work/app/src/main.rs"))));
        assert!(c.is_yours(&frame("my_app::handler", Some("src/main.rs"))));
        assert!(!c.is_yours(&frame(
            "hyper::proto::h1::dispatch",
            Some(
                "/root/.cargo/registry/src/index.crates.io-1/hyper-1.0.0/src/proto/h1/dispatch.rs"
            )
        )));
        assert!(!c.is_yours(&frame(
            "gitdep::f",
            Some("/home/u/.cargo/git/checkouts/gitdep/src/lib.rs")
        )));
        assert!(!c.is_yours(&frame(
            "std::rt::lang_start",
            Some("/rustc/abc/library/std/src/rt.rs")
        )));
        // std, tokio and tracing are never yours, even when built from a local path
        assert!(!c.is_yours(&frame(
            "tokio::runtime::park",
            Some("/src/tokio/src/park.rs")
        )));
        assert!(!c.is_yours(&frame("main", None)));
        // bare inlined names are decided by their path
        assert!(c.is_yours(&frame("{closure#0}<()>", Some("/work/app/src/main.rs"))));
        assert!(!c.is_yours(&frame(
            "{closure#0}<()>",
            Some("/rustc/abc/library/std/src/rt.rs")
        )));
        // C runtime frames are never yours
        assert!(!c.is_yours(&frame(
            "__libc_start_call_main",
            Some("./csu/../sysdeps/nptl/libc_start_call_main.h")
        )));
        let own = concat!(env!("CARGO_MANIFEST_DIR"), "/src/handle.rs");
        assert!(!c.is_yours(&frame("capture_error_at<u8>", Some(own))));
    }

    #[test]
    fn named_crates_are_yours_even_from_the_registry() {
        let c = Classifier::default().crates(["my-core"]);
        assert!(c.is_yours(&frame(
            "my_core::db::open",
            Some("/root/.cargo/registry/src/x/my-core-1.0.0/src/db.rs")
        )));
        assert!(c.is_yours(&frame("my_core::db::open", None)));
        assert!(!c.is_yours(&frame("other::f", None)));
    }

    #[test]
    fn a_predicate_replaces_the_rules() {
        let c = Classifier::default().predicate(|f| f.function.starts_with("std::"));
        assert!(c.is_yours(&frame(
            "std::rt::lang_start",
            Some("/rustc/x/std/src/rt.rs")
        )));
        assert!(!c.is_yours(&frame("my_app::f", Some("src/main.rs"))));
    }
}

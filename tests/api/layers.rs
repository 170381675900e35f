//! The server's modules import only downward, in the order of `LAYERS`, and no two of
//! them import each other, however indirectly. Read from `src/` on every run, so the rule
//! stays true as the code changes. The merklelog crate is checked to stay pure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The server's layers, bottom to top: a module may import from its own layer and those
/// below it. A module belongs to the layer of the longest prefix listed.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves: ids, metrics and the error types of repo and store",
        &["ids", "metrics", "repo::error", "store::error"],
    ),
    (
        "metadata: the Repo trait, its models and backends; SQL lives only here",
        &["repo"],
    ),
    ("content stores: database chunks, a directory, S3", &["store"]),
    (
        "log services over repo: state, trust, sealer (the only signer), prover, audit",
        &["log"],
    ),
    ("the malware scanner", &["scan"]),
    (
        "the core: uploads, references, verified downloads, sharing decisions, SCITT statements",
        &["blob", "sharing", "scitt"],
    ),
    (
        "the web layer: the HTTP error type, auth, rate limits",
        &["error", "auth", "ratelimit"],
    ),
    (
        "what handlers are given: AppState, built from config",
        &["state", "config", "tenants"],
    ),
    ("the API dialects and their documents", &["api"]),
    ("the server, the command line and main", &["server", "cli", "main"]),
];

/// Imports that still run upward, each to be removed (issue: one direction of
/// dependencies). The test fails when one is gone, so the list only shrinks.
const NOT_YET: &[(&str, &str)] = &[];

/// Layers below the web layer: they know no HTTP (no axum), and answer domain results.
const NO_HTTP: &[&str] = &["repo", "store", "log", "scan", "blob", "sharing", "scitt"];

/// Modules below the web layer that still use axum (issue: one direction of dependencies).
const HTTP_NOT_YET: &[&str] = &[];

/// Crates the merklelog library must never depend on.
const NOT_IN_MERKLELOG: &[&str] = &["sqlx", "axum", "tokio", "attachd", "hyper", "tower", "reqwest"];

fn layer_of(module: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (layer, (_, prefixes)) in LAYERS.iter().enumerate() {
        for prefix in *prefixes {
            let matches = module == *prefix || module.starts_with(&format!("{prefix}::"));
            if matches && best.is_none_or(|(_, len)| prefix.len() > len) {
                best = Some((layer, prefix.len()));
            }
        }
    }
    best.map(|(layer, _)| layer)
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`; `lib.rs` is the root, "".
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|last| last == "mod" || last == "lib") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, found)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    Ok(())
}

/// The code of `text` without comments and string literals (paths in them are no imports).
fn code_only(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match (escaped, c) {
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => escaped = false,
                    }
                }
                code.push_str("\"\"");
            }
            _ => code.push(c),
        }
    }
    code
}

/// Every path `module`'s code names through `crate::` or `super::`, made absolute; a
/// `{a, b::c}` group gives one path per item.
fn paths_named(module: &str, code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut at = 0;
    while at < bytes.len() {
        let rest = &code[at..];
        let starts =
            (rest.starts_with("crate::") || rest.starts_with("super::")) && (at == 0 || !is_ident(bytes[at - 1]));
        if !starts {
            at += 1;
            continue;
        }
        let mut base: Vec<&str> = if rest.starts_with("crate::") {
            at += "crate::".len();
            Vec::new()
        } else {
            let mut base: Vec<&str> = module.split("::").filter(|p| !p.is_empty()).collect();
            while code[at..].starts_with("super::") {
                base.pop();
                at += "super::".len();
            }
            base
        };
        let mut grouped = false;
        loop {
            if code[at..].starts_with('{') {
                // A group: each item is a path below `base` (nested groups give their prefix).
                let end = code[at..].find('}').map_or(code.len(), |e| at + e);
                for item in code[at + 1..end].split(',') {
                    let item = item.split(" as ").next().unwrap_or("");
                    let item = item.split('{').next().unwrap_or("").trim().trim_end_matches("::");
                    if !item.is_empty() && item != "self" {
                        paths.push(base.iter().copied().chain([item]).collect::<Vec<_>>().join("::"));
                    }
                }
                at = end;
                grouped = true;
                break;
            }
            let start = at;
            while at < bytes.len() && is_ident(bytes[at]) {
                at += 1;
            }
            if start == at {
                break;
            }
            base.push(&code[start..at]);
            if !code[at..].starts_with("::") {
                break;
            }
            at += 2;
        }
        if !grouped {
            paths.push(base.join("::"));
        }
    }
    paths
}

/// The module `path` lies in: its longest prefix that is a module of `modules`.
fn module_named<'a>(path: &str, modules: &'a BTreeSet<String>) -> Option<&'a String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    while !parts.is_empty() {
        if let Some(found) = modules.get(&parts.join("::")) {
            return Some(found);
        }
        parts.pop();
    }
    None
}

/// Each module and the other modules it imports (not its own submodules, which it declares).
fn imports() -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files)?;
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|file| {
            let code = code_only(&std::fs::read_to_string(file)?);
            // A file's unit tests (its last item, by habit) are inside it: `super` there is
            // the file's own module.
            let code = code.split("mod tests {").next().unwrap_or_default().to_string();
            Ok((module_of(&src, file), code))
        })
        .collect::<anyhow::Result<_>>()?;
    let modules: BTreeSet<String> = sources.iter().map(|(module, _)| module.clone()).collect();
    let mut graph = BTreeMap::new();
    for (module, code) in &sources {
        let imported: BTreeSet<String> = paths_named(module, code)
            .iter()
            .filter_map(|path| module_named(path, &modules))
            .filter(|target| *target != module && !target.starts_with(&format!("{module}::")))
            .cloned()
            .collect();
        graph.insert(module.clone(), imported);
    }
    Ok(graph)
}

#[test]
fn modules_import_only_downward() -> anyhow::Result<()> {
    let graph = imports()?;
    let mut upward = BTreeSet::new();
    for (module, imported) in &graph {
        let Some(own) = layer_of(module) else {
            anyhow::ensure!(module.is_empty(), "module {module} is in no layer: add it to LAYERS");
            continue;
        };
        for target in imported {
            // The crate root only declares modules and re-exports.
            let above = target.is_empty() || layer_of(target).is_some_and(|layer| layer > own);
            if above {
                upward.insert((module.clone(), target.clone()));
            }
        }
    }
    let allowed: BTreeSet<(String, String)> = NOT_YET.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let new: Vec<_> = upward.difference(&allowed).collect();
    let gone: Vec<_> = allowed.difference(&upward).collect();
    anyhow::ensure!(
        new.is_empty(),
        "modules importing from a layer above their own (module, imported): {new:?}"
    );
    anyhow::ensure!(gone.is_empty(), "fixed, so take them off NOT_YET: {gone:?}");
    Ok(())
}

#[test]
fn the_core_knows_no_http() -> anyhow::Result<()> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files)?;
    let mut using = BTreeSet::new();
    for file in &files {
        let module = module_of(&src, file);
        let below_web = NO_HTTP
            .iter()
            .any(|layer| module == *layer || module.starts_with(&format!("{layer}::")));
        if below_web && code_only(&std::fs::read_to_string(file)?).contains("axum::") {
            using.insert(module);
        }
    }
    let allowed: BTreeSet<String> = HTTP_NOT_YET.iter().map(|m| m.to_string()).collect();
    let new: Vec<_> = using.difference(&allowed).collect();
    let gone: Vec<_> = allowed.difference(&using).collect();
    anyhow::ensure!(new.is_empty(), "modules below the web layer that use axum: {new:?}");
    anyhow::ensure!(gone.is_empty(), "fixed, so take them off HTTP_NOT_YET: {gone:?}");
    Ok(())
}

#[test]
fn no_import_circles() -> anyhow::Result<()> {
    let graph = imports()?;
    // Tarjan's strongly connected components: any with two or more modules is a circle.
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        circles: Vec<Vec<&'a str>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut circle = Vec::new();
                while let Some(w) = self.stack.pop() {
                    circle.push(w);
                    if w == v {
                        break;
                    }
                }
                if circle.len() > 1 {
                    circle.sort();
                    self.circles.push(circle);
                }
            }
        }
    }
    let mut walk = Walk {
        graph: &graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        circles: Vec::new(),
    };
    for module in graph.keys() {
        if !walk.index.contains_key(module.as_str()) {
            walk.visit(module);
        }
    }
    anyhow::ensure!(
        walk.circles.is_empty(),
        "modules that import each other: {:?}",
        walk.circles
    );
    Ok(())
}

/// Only the sealer signs (and an operator's re-anchoring after an audit): no request does.
#[test]
fn only_the_sealer_signs() -> anyhow::Result<()> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files)?;
    for file in &files {
        let module = module_of(&src, file);
        // The seal log signs its checkpoints at the end of the sealer's round, called from there only.
        if module == "log::sealer" || module == "log::audit" || module == "log::seallog" {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(file)?);
        for signer in ["sign_state(", "seal_tenant("] {
            anyhow::ensure!(
                !code.contains(signer),
                "{module} calls {signer}…): only the sealer signs"
            );
        }
        // A call of a free function `sign` (merklelog's seal signer), not a method `.sign(`.
        let calls_sign = code.match_indices("sign(").any(|(at, _)| {
            let before = code[..at].chars().next_back().unwrap_or(' ');
            !(before.is_alphanumeric() || before == '_' || before == '.')
        });
        anyhow::ensure!(!calls_sign, "{module} calls sign(…): only the sealer signs");
    }
    Ok(())
}

/// Lines of SQL a macro may hold: a column list, never a statement's logic.
const MACRO_SQL_LINES: usize = 3;

/// The bodies of the `macro_rules!` in `text`, as written.
fn macro_bodies(text: &str) -> Vec<&str> {
    let mut bodies = Vec::new();
    for (at, _) in text.match_indices("macro_rules!") {
        let Some(open) = text[at..].find('{').map(|i| at + i) else {
            continue;
        };
        let mut depth = 0;
        for (i, c) in text[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                bodies.push(&text[open..=open + i]);
                break;
            }
        }
    }
    bodies
}

/// Macros only remove repetition: none hides a `?`, a `return` or an `.await` from the
/// reader, and none holds a statement's SQL.
#[test]
fn macros_hide_no_control_flow() -> anyhow::Result<()> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files)?;
    let mut macros = 0;
    for file in &files {
        let module = module_of(&src, file);
        let text = std::fs::read_to_string(file)?;
        for body in macro_bodies(&text) {
            macros += 1;
            let code = code_only(body).replace("?Sized", "");
            for hidden in ["?", "return", ".await"] {
                anyhow::ensure!(!code.contains(hidden), "a macro in {module} hides `{hidden}`");
            }
            let sql = body
                .lines()
                .filter(|line| {
                    ["SELECT ", "INSERT ", "UPDATE ", "DELETE ", " FROM ", " WHERE "]
                        .iter()
                        .any(|k| line.contains(k))
                })
                .count();
            anyhow::ensure!(sql <= MACRO_SQL_LINES, "a macro in {module} holds {sql} lines of SQL");
        }
    }
    anyhow::ensure!(macros > 0, "no macros found: the search is broken");
    Ok(())
}

#[test]
fn the_merklelog_crate_stays_pure() -> anyhow::Result<()> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/merklelog/Cargo.toml");
    let text = std::fs::read_to_string(manifest)?;
    let dependencies = text
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap_or_default();
    for line in dependencies.lines() {
        let name = line.split('=').next().unwrap_or_default().trim();
        anyhow::ensure!(!NOT_IN_MERKLELOG.contains(&name), "crates/merklelog depends on {name}");
    }
    anyhow::ensure!(
        text.contains("missing_docs = \"deny\""),
        "crates/merklelog must deny missing docs"
    );
    Ok(())
}

#[test]
fn the_checker_sees_imports() {
    // The parser itself: grouped, relative and macro paths, and none in comments or text.
    let code = code_only("use crate::{a::b, c};\nuse super::d; // crate::e\nlet s = \"crate::f\";\n$crate::g::h");
    let paths = paths_named("x::y", &code);
    for expected in ["a::b", "c", "x::d", "g::h"] {
        assert!(paths.iter().any(|p| p == expected), "{expected} in {paths:?}");
    }
    for unexpected in ["e", "f"] {
        assert!(!paths.iter().any(|p| p == unexpected), "{unexpected} in {paths:?}");
    }
}

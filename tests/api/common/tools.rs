//! Outside tools the tests drive (the DataTrails SDK and schemathesis from PyPI, newman from
//! npm), each installed under target/ once and kept between runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// An installed tool's path, made by `install` once per test run (tests of both backends
/// share it, and its error, rather than install it twice at once).
pub type Installed = std::sync::OnceLock<Result<PathBuf, String>>;

pub fn installed_once(
    cell: &'static Installed,
    install: impl FnOnce() -> anyhow::Result<PathBuf>,
) -> anyhow::Result<PathBuf> {
    cell.get_or_init(|| install().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!(e))
}

/// The venv `target/<name>` with `requirements` installed; returns its `bin` directory.
pub fn venv(name: &str, requirements: &[&str]) -> anyhow::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join(name);
    let ready = dir.join(format!(".installed-{}", requirements.join("-")));
    if !ready.exists() {
        run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&dir))?;
        run(Command::new(dir.join("bin/python"))
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(requirements))?;
        std::fs::write(&ready, b"")?;
    }
    Ok(dir.join("bin"))
}

/// The packages that `from`'s package.json and package-lock.json (a folder of the repository)
/// pin, installed with `npm ci` into `target/<name>` once, and again when the lock changes;
/// returns that folder.
pub fn npm_installed(from: &str, name: &str) -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target").join(name);
    let lock = std::fs::read(root.join(from).join("package-lock.json"))?;
    let installed = dir.join("package-lock.json");
    if !dir.join("node_modules").exists() || std::fs::read(&installed).ok().as_deref() != Some(lock.as_slice()) {
        std::fs::create_dir_all(&dir)?;
        std::fs::copy(root.join(from).join("package.json"), dir.join("package.json"))?;
        std::fs::write(&installed, &lock)?;
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&dir))?;
    }
    Ok(dir)
}

pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

//! A podman of the test's own: its storage in a temp dir (removed with it), its settings in a
//! file the test writes, and a Debian base image made with `debootstrap` (cached under
//! `target/container/`), since no registry can be reached.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::Context;

/// The base image the Dockerfile names by default; the test makes it rather than pull it.
const BASE: &str = "docker.io/library/debian:bookworm-slim";

pub struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    /// A podman ready to build and run, or why it cannot be here (a tool is missing).
    pub fn ready() -> anyhow::Result<Result<Self, String>> {
        for tool in ["podman", "buildah", "debootstrap"] {
            if which(tool).is_none() {
                return Ok(Err(format!(
                    "{tool} is not installed (Debian: apt-get install podman buildah debootstrap runc)"
                )));
            }
        }
        if !rustix::process::geteuid().is_root() {
            return Ok(Err(
                "it runs podman as root (rootless podman maps the image's uid)".into()
            ));
        }
        let dir = tempfile::Builder::new().prefix("attachd-podman-").tempdir()?;
        // runc: crun cannot set RLIMIT_NPROC in some sandboxes; limits every host allows.
        std::fs::write(
            dir.path().join("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\nruntime = \"runc\"\n",
        )?;
        std::fs::write(
            dir.path().join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = \"{0}/storage\"\nrunroot = \"{0}/run\"\n",
                dir.path().display()
            ),
        )?;
        let podman = Self { dir };
        podman.import_base()?;
        Ok(Ok(podman))
    }

    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("CONTAINERS_CONF", self.dir.path().join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.path().join("storage.conf"));
        command
    }

    /// `podman ARGS`, which must succeed; its standard output.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self.output(args)?;
        anyhow::ensure!(
            output.status.success(),
            "podman {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    pub fn output(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.command("podman")
            .args(args)
            .output()
            .with_context(|| format!("running podman {args:?}"))
    }

    /// A bash script run with this podman, in `dir`; its standard output.
    pub fn bash(&self, script: &str, dir: &Path) -> anyhow::Result<String> {
        let output = self
            .command("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(dir)
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "{script}\nfailed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Debian 12's minimal root filesystem (what `debian:bookworm-slim` is built from), made
    /// once and kept as a tarball, imported under the name the Dockerfile uses.
    fn import_base(&self) -> anyhow::Result<()> {
        let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/container");
        let tarball = cache.join("debian-bookworm-minbase.tar");
        if !tarball.exists() {
            std::fs::create_dir_all(&cache)?;
            let rootfs = tempfile::Builder::new().prefix("rootfs-").tempdir_in(&cache)?;
            super::tools::run(
                Command::new("debootstrap")
                    .args(["--variant=minbase", "bookworm"])
                    .args([rootfs.path().as_os_str(), "http://deb.debian.org/debian".as_ref()]),
            )?;
            for trimmed in [
                "var/cache/apt",
                "var/lib/apt/lists",
                "usr/share/doc",
                "usr/share/man",
                "usr/share/locale",
            ] {
                let path = rootfs.path().join(trimmed);
                std::fs::remove_dir_all(&path)?;
                std::fs::create_dir(&path)?;
            }
            let partial = cache.join("debian-bookworm-minbase.tar.partial");
            super::tools::run(
                Command::new("tar")
                    .arg("-C")
                    .arg(rootfs.path())
                    .arg("-cf")
                    .arg(&partial)
                    .arg("."),
            )?;
            std::fs::rename(&partial, &tarball)?;
        }
        self.run(&["import", &tarball.display().to_string(), BASE])?;
        Ok(())
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Containers hold mounts in the storage: remove them before the dir is removed.
        let _ = self.output(&["rm", "--all", "--force", "--time", "1"]);
    }
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

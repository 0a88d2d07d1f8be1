//! Several Python runtimes side by side: each configured version (`--runtimes`) is an
//! interpreter plus an optional read-only set of third-party packages, with its own warm,
//! confined sandbox pool. `scripts/ensure-runtimes` installs them under `--runtime-dir`:
//! `bin/python3.X`, `packages/3.X/` and `packages/3.X.json` (what is in it, and which
//! curated packages have no wheel for that version).

pub mod spec;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::sandbox::{Sandbox, SandboxConfig};
pub use spec::{Minor, VersionSpec};

/// One package of a runtime, as `GET /api/runtimes` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
}

/// `packages/3.X.json`, written by `scripts/ensure-runtimes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub packages: Vec<Package>,
    /// Curated packages with no wheel for this version.
    #[serde(default)]
    pub missing: Vec<String>,
}

/// A runtime to start: where its interpreter and packages are.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `None` when `--python` named an interpreter: its version decides.
    pub id: Option<Minor>,
    pub sandbox: SandboxConfig,
    pub manifest: Manifest,
}

/// One runtime of the server: its pool, or why it is not running.
#[derive(Clone)]
pub struct Runtime {
    pub id: Minor,
    pub state: Result<Sandbox, String>,
    pub manifest: Manifest,
}

impl Runtime {
    /// The exact version ("3.14.8") once running; the minor otherwise.
    pub fn version(&self) -> String {
        match &self.state {
            Ok(s) => s.python_version().to_string(),
            Err(_) => self.id.to_string(),
        }
    }
}

/// Every configured runtime, in version order, and the default one.
#[derive(Clone)]
pub struct RuntimeSet {
    pub runtimes: Arc<Vec<Runtime>>,
    pub default: Minor,
}

/// Why a version was not given a sandbox.
#[derive(Debug)]
pub enum PickError {
    /// Not a configured runtime (422, with the list).
    Unknown {
        asked: String,
        available: Vec<String>,
    },
    /// Configured but not running (503).
    Unavailable(String),
}

impl RuntimeSet {
    /// Starts every planned runtime at once; one that fails is kept with its reason
    /// (logged), the others serve. The default is `default` if it runs, else the newest
    /// running one.
    pub async fn start(plans: Vec<Plan>, default: Minor) -> RuntimeSet {
        let starts = plans.into_iter().map(|plan| async move {
            let interpreter = plan.sandbox.python.clone();
            let state =
                if plan.sandbox.python.components().count() > 1 && !plan.sandbox.python.exists() {
                    Err(format!(
                        "interpreter {} not found (scripts/ensure-deps installs the runtimes)",
                        interpreter.display()
                    ))
                } else {
                    Sandbox::start(plan.sandbox)
                        .await
                        .map_err(|e| e.to_string())
                };
            let id = match (&state, plan.id) {
                (_, Some(id)) => Some(id),
                (Ok(s), None) => minor_of(s.python_version()),
                (Err(_), None) => None,
            };
            (id, interpreter, state, plan.manifest)
        });
        let mut runtimes = Vec::new();
        for (id, interpreter, state, manifest) in futures_util::future::join_all(starts).await {
            let Some(id) = id else {
                tracing::error!(
                    python = %interpreter.display(),
                    "snippets will not run on {}: {}",
                    interpreter.display(),
                    state.err().unwrap_or_default()
                );
                continue;
            };
            match &state {
                Ok(s) => tracing::info!(
                    python = %s.python_version(),
                    workers = s.config().workers,
                    packages = manifest.packages.len(),
                    "runtime {id} ready"
                ),
                Err(e) => tracing::error!(
                    python = %interpreter.display(),
                    "runtime {id} is not available, the others still serve: {e}"
                ),
            }
            runtimes.push(Runtime {
                id,
                state,
                manifest,
            });
        }
        runtimes.sort_by_key(|r| r.id);
        let running = |id: Minor| runtimes.iter().any(|r| r.id == id && r.state.is_ok());
        let chosen = if running(default) {
            default
        } else {
            let newest = runtimes
                .iter()
                .rev()
                .find(|r| r.state.is_ok())
                .map(|r| r.id);
            if let Some(n) = newest {
                tracing::warn!("the default runtime {default} is not running; {n} is the default");
            }
            newest.unwrap_or(default)
        };
        RuntimeSet {
            runtimes: Arc::new(runtimes),
            default: chosen,
        }
    }

    /// A set of one already started sandbox (tests, `--python PATH`).
    pub fn single(sandbox: Sandbox) -> RuntimeSet {
        let id = minor_of(sandbox.python_version()).unwrap_or(Minor::new(3, 0));
        RuntimeSet {
            runtimes: Arc::new(vec![Runtime {
                id,
                state: Ok(sandbox),
                manifest: Manifest::default(),
            }]),
            default: id,
        }
    }

    pub fn get(&self, id: Minor) -> Option<&Runtime> {
        self.runtimes.iter().find(|r| r.id == id)
    }

    pub fn default_runtime(&self) -> Option<&Runtime> {
        self.get(self.default)
    }

    /// The sandbox for `python` ("3.13"; `None`: the default).
    pub fn pick(&self, python: Option<&str>) -> Result<(&Runtime, &Sandbox), PickError> {
        let unknown = || PickError::Unknown {
            asked: python.unwrap_or_default().to_string(),
            available: self.runtimes.iter().map(|r| r.id.to_string()).collect(),
        };
        let id = match python.map(str::trim).filter(|p| !p.is_empty()) {
            None => self.default,
            Some(p) => p.parse::<Minor>().map_err(|_| unknown())?,
        };
        let runtime = self.get(id).ok_or_else(unknown)?;
        match &runtime.state {
            Ok(s) => Ok((runtime, s)),
            Err(why) => Err(PickError::Unavailable(format!("Python {id}: {why}"))),
        }
    }

    /// Running sandboxes, for shutdown and metrics.
    pub fn sandboxes(&self) -> impl Iterator<Item = (&Runtime, &Sandbox)> {
        self.runtimes
            .iter()
            .filter_map(|r| r.state.as_ref().ok().map(|s| (r, s)))
    }

    pub async fn shutdown(&self) {
        futures_util::future::join_all(self.sandboxes().map(|(_, s)| s.shutdown())).await;
    }
}

/// `3.14.8` → 3.14.
pub fn minor_of(version: &str) -> Option<Minor> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    Some(Minor::new(major, minor))
}

/// Where runtime `id` lives under `dir`: its interpreter (`bin/python3.X`, else
/// `python3.X` on PATH) and its packages (`packages/3.X`, when installed).
pub fn locate(dir: &Path, id: Minor) -> (PathBuf, Option<PathBuf>, Manifest) {
    let name = format!("python{id}");
    let installed = dir.join("bin").join(&name);
    let python = if installed.exists() {
        installed.canonicalize().unwrap_or(installed)
    } else {
        let found = crate::sandbox::python::find_python(Path::new(&name));
        if found.components().count() > 1 {
            found
        } else {
            installed // reported as missing, with the path it was expected at
        }
    };
    let packages = dir.join("packages").join(id.to_string());
    let manifest = std::fs::read_to_string(dir.join("packages").join(format!("{id}.json")))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    (python, packages.is_dir().then_some(packages), manifest)
}

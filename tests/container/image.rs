//! The image as the Dockerfile and docker-compose.yml describe it, read by the tests
//! so that what they run and check cannot drift from what is shipped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One instruction, continuation lines joined, comment lines dropped.
#[derive(Debug, Clone)]
pub struct Instruction {
    pub keyword: String,
    pub args: String,
    pub line: usize,
}

/// A `FROM` and what follows it.
#[derive(Debug, Clone)]
pub struct Stage {
    pub from: String,
    pub name: Option<String>,
    pub instructions: Vec<Instruction>,
}

impl Stage {
    pub fn all(&self, keyword: &str) -> impl Iterator<Item = &Instruction> {
        self.instructions
            .iter()
            .filter(move |i| i.keyword == keyword)
    }
    /// The last instruction of a kind (later ones override earlier ones).
    pub fn last(&self, keyword: &str) -> Option<&Instruction> {
        self.all(keyword).last()
    }
}

pub fn parse_dockerfile(text: &str) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        if pending.is_empty() {
            start = n + 1;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        let (keyword, args) = full.split_once(char::is_whitespace).unwrap_or((&full, ""));
        let ins = Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_string(),
            line: start,
        };
        if ins.keyword == "FROM" {
            let words: Vec<&str> = ins.args.split_whitespace().collect();
            let from = words
                .iter()
                .find(|w| !w.starts_with("--"))
                .map(|w| w.to_string())
                .unwrap_or_default();
            let name = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("AS"))
                .and_then(|i| words.get(i + 1))
                .map(|w| w.to_string());
            stages.push(Stage {
                from,
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(ins);
        }
    }
    stages
}

/// `["a", "b"]` (exec form) or a shell command (run by `/bin/sh -c`, as Docker does).
pub fn command_args(args: &str) -> Vec<String> {
    if args.trim_start().starts_with('[') {
        serde_json::from_str(args).unwrap_or_else(|e| panic!("bad JSON array {args}: {e}"))
    } else {
        vec!["/bin/sh".into(), "-c".into(), args.into()]
    }
}

/// `KEY=VALUE KEY2="VALUE 2"` (or the legacy `KEY VALUE`).
pub fn env_pairs(args: &str) -> Vec<(String, String)> {
    let first = args.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        return vec![(k.to_string(), v.trim().to_string())];
    }
    let mut out = Vec::new();
    let mut chars = args.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|&c| c != '=')).collect();
        if key.is_empty() {
            return out;
        }
        chars.next();
        let mut value = String::new();
        let mut quote = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => value.extend(chars.next()),
                (None, c) if c.is_whitespace() => break,
                (_, c) => value.push(c),
            }
        }
        out.push((key, value));
    }
}

/// A `COPY` of the runtime stage.
#[derive(Debug, Clone)]
pub struct Copy {
    pub from: Option<String>,
    pub sources: Vec<String>,
    pub dest: String,
}

/// `HEALTHCHECK [--opt=value ...] CMD ...`.
#[derive(Debug, Clone)]
pub struct Healthcheck {
    pub options: Vec<(String, String)>,
    pub command: Vec<String>,
}

/// The runtime (last) stage, read into what `docker run` would use.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub stages: Vec<Stage>,
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub env: Vec<(String, String)>,
    pub workdir: String,
    /// ENTRYPOINT followed by CMD.
    pub args: Vec<String>,
    pub expose: Vec<u16>,
    pub volumes: Vec<String>,
    pub healthcheck: Option<Healthcheck>,
    pub copies: Vec<Copy>,
    pub stopsignal: Option<String>,
}

impl Runtime {
    pub fn load() -> Runtime {
        let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
        Runtime::parse(&text)
    }

    pub fn parse(text: &str) -> Runtime {
        let stages = parse_dockerfile(text);
        let stage = stages.last().expect("a FROM").clone();
        let user = stage
            .last("USER")
            .map(|i| i.args.clone())
            .unwrap_or_default();
        let (u, g) = user.split_once(':').unwrap_or((&user, &user));
        let num = |s: &str| s.parse::<u32>().unwrap_or(u32::MAX);
        let env = stage.all("ENV").flat_map(|i| env_pairs(&i.args)).fold(
            Vec::<(String, String)>::new(),
            |mut acc, (k, v)| {
                acc.retain(|(key, _)| *key != k);
                acc.push((k, v));
                acc
            },
        );
        let mut args = stage
            .last("ENTRYPOINT")
            .map(|i| command_args(&i.args))
            .unwrap_or_default();
        args.extend(
            stage
                .last("CMD")
                .map(|i| command_args(&i.args))
                .unwrap_or_default(),
        );
        let expose = stage
            .all("EXPOSE")
            .flat_map(|i| {
                i.args
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .map(|p| {
                p.trim_end_matches("/tcp")
                    .parse()
                    .unwrap_or_else(|_| panic!("EXPOSE {p}"))
            })
            .collect();
        let volumes = stage
            .all("VOLUME")
            .flat_map(|i| {
                if i.args.starts_with('[') {
                    command_args(&i.args)
                } else {
                    i.args.split_whitespace().map(str::to_string).collect()
                }
            })
            .collect();
        let healthcheck = stage.last("HEALTHCHECK").map(|i| {
            let mut rest = i.args.as_str();
            let mut options = Vec::new();
            while let Some(opt) = rest.strip_prefix("--") {
                let (word, tail) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
                let (k, v) = word.split_once('=').unwrap_or((word, ""));
                options.push((k.to_string(), v.to_string()));
                rest = tail.trim_start();
            }
            let cmd = rest
                .strip_prefix("CMD")
                .unwrap_or_else(|| panic!("HEALTHCHECK without CMD: {rest}"));
            Healthcheck {
                options,
                command: command_args(cmd.trim()),
            }
        });
        let copies = stage
            .all("COPY")
            .map(|i| {
                let words: Vec<&str> = i.args.split_whitespace().collect();
                let from = words
                    .iter()
                    .find_map(|w| w.strip_prefix("--from="))
                    .map(str::to_string);
                let paths: Vec<String> = words
                    .iter()
                    .filter(|w| !w.starts_with("--"))
                    .map(|w| w.to_string())
                    .collect();
                let (dest, sources) = paths.split_last().expect("COPY src dest");
                Copy {
                    from,
                    sources: sources.to_vec(),
                    dest: dest.clone(),
                }
            })
            .collect();
        Runtime {
            uid: num(u),
            gid: num(g),
            user: user.clone(),
            env,
            workdir: stage
                .last("WORKDIR")
                .map(|i| i.args.clone())
                .unwrap_or_else(|| "/".into()),
            args,
            expose,
            volumes,
            healthcheck,
            copies,
            stopsignal: stage.last("STOPSIGNAL").map(|i| i.args.clone()),
            stages,
        }
    }

    pub fn env(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The port of `SNAKEPIT_BIND`.
    pub fn bind_port(&self) -> u16 {
        let bind = self.env("SNAKEPIT_BIND").expect("ENV SNAKEPIT_BIND");
        bind.parse::<std::net::SocketAddr>()
            .unwrap_or_else(|e| panic!("SNAKEPIT_BIND={bind}: {e}"))
            .port()
    }

    /// Where a build-context path (`content`, `static`) lands in the image.
    pub fn destination_of(&self, source: &str) -> Option<String> {
        self.copies
            .iter()
            .find(|c| c.from.is_none() && c.sources.iter().any(|s| s == source))
            .map(|c| {
                if c.dest.ends_with('/') {
                    format!("{}{source}", c.dest)
                } else {
                    c.dest.clone()
                }
            })
    }
}

/// The one service of docker-compose.yml.
pub struct Compose {
    pub doc: yaml_rust::Yaml,
    pub service: yaml_rust::Yaml,
}

impl Compose {
    pub fn load() -> Compose {
        let text =
            std::fs::read_to_string(root().join("docker-compose.yml")).expect("docker-compose.yml");
        let mut docs = yaml_rust::YamlLoader::load_from_str(&text).expect("valid YAML");
        assert_eq!(docs.len(), 1, "one YAML document");
        let doc = docs.remove(0);
        let services = doc["services"].as_hash().expect("services:");
        assert_eq!(services.len(), 1, "one service");
        let service = services.values().next().cloned().expect("a service");
        Compose { doc, service }
    }

    pub fn strings(&self, key: &str) -> Vec<String> {
        self.service[key]
            .as_vec()
            .map(|v| {
                v.iter()
                    .map(|s| yaml_scalar(s).unwrap_or_else(|| panic!("{key}: {s:?}")))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn environment(&self) -> Vec<(String, String)> {
        match &self.service["environment"] {
            yaml_rust::Yaml::Hash(h) => h
                .iter()
                .map(|(k, v)| {
                    (
                        yaml_scalar(k).expect("env name"),
                        yaml_scalar(v).unwrap_or_default(),
                    )
                })
                .collect(),
            yaml_rust::Yaml::Array(a) => a
                .iter()
                .filter_map(yaml_scalar)
                .map(|s| {
                    let (k, v) = s.split_once('=').unwrap_or((&s, ""));
                    (k.to_string(), v.to_string())
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn bool(&self, key: &str) -> bool {
        self.service[key].as_bool().unwrap_or(false)
    }

    /// Linux capabilities left by `cap_drop`/`cap_add` from Docker's defaults.
    pub fn capabilities(&self) -> Vec<String> {
        let norm = |c: &str| {
            let c = c.to_ascii_uppercase();
            if c.starts_with("CAP_") || c == "ALL" {
                c
            } else {
                format!("CAP_{c}")
            }
        };
        let drop: Vec<String> = self.strings("cap_drop").iter().map(|c| norm(c)).collect();
        let add: Vec<String> = self.strings("cap_add").iter().map(|c| norm(c)).collect();
        let mut caps: Vec<String> = if drop.iter().any(|c| c == "ALL") {
            Vec::new()
        } else {
            DOCKER_DEFAULT_CAPS
                .iter()
                .map(|c| c.to_string())
                .filter(|c| !drop.contains(c))
                .collect()
        };
        caps.extend(add.into_iter().filter(|c| c != "ALL"));
        caps
    }

    /// `tmpfs:` entries as (destination, mount options).
    pub fn tmpfs(&self) -> Vec<(String, Vec<String>)> {
        self.strings("tmpfs")
            .iter()
            .map(|t| {
                let (dest, opts) = t.split_once(':').unwrap_or((t, ""));
                let opts = opts
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_string)
                    .collect();
                (dest.to_string(), opts)
            })
            .collect()
    }
}

pub fn yaml_scalar(y: &yaml_rust::Yaml) -> Option<String> {
    use yaml_rust::Yaml;
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DOCKER_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The `snakepit` binary under test.
pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_snakepit"))
}

/// True when the container tests are switched off; says so on stderr.
pub fn skipped(what: &str) -> bool {
    let skip = std::env::var("SNAKEPIT_SKIP_CONTAINER").is_ok_and(|v| v == "1");
    if skip {
        eprintln!("SNAKEPIT_SKIP_CONTAINER=1: skipping {what}");
    }
    skip
}

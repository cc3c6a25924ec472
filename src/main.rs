//! Parse the command line, build the runtime, run the subcommand, map its result to the exit
//! code (0 success, 1 run failed, 2 bad usage or config). Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use sai3::cmd;

#[derive(Parser)]
#[command(
    name = "sai3",
    version,
    about = "Distributed storage I/O benchmark for S3, Azure Blob, GCS, file and O_DIRECT storage"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log detail on stderr (-v: info, -vv: trace); SAI3_LOG (e.g. `debug`, `sai3=trace,h2=debug`) overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors in the log on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
}

/// sai3-bench's agent flags: accepted by the parser so that they are refused with what to use
/// instead, rather than as unknown arguments.
#[derive(clap::Args)]
struct LegacyAgentFlags {
    #[arg(long, hide = true)]
    tls: bool,
    #[arg(long, hide = true)]
    tls_domain: Option<String>,
    #[arg(long, hide = true)]
    tls_sans: Option<String>,
    #[arg(long, hide = true)]
    tls_write_ca: Option<PathBuf>,
    #[arg(long, hide = true)]
    op_log: Option<PathBuf>,
}

impl LegacyAgentFlags {
    /// The self-signed TLS flags that were given.
    fn tls_given(&self) -> Vec<&'static str> {
        [
            (self.tls, "--tls"),
            (self.tls_domain.is_some(), "--tls-domain"),
            (self.tls_sans.is_some(), "--tls-sans"),
            (self.tls_write_ca.is_some(), "--tls-write-ca"),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect()
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the long-lived agent service on a load host.
    Agent {
        /// Address to listen on (port 0 picks a free port and prints it).
        #[arg(long, default_value = "0.0.0.0:7761")]
        listen: String,
        /// Agent id shown by `ctl ping` (the controller names agents in runs); default: host name.
        #[arg(long)]
        id: Option<String>,
        /// File whose first line is the shared token controllers must present (or SAI3_AGENT_TOKEN).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Serve TLS with this certificate (PEM); needs --tls-key.
        #[arg(long)]
        tls_cert: Option<PathBuf>,
        /// Private key (PEM) of --tls-cert.
        #[arg(long)]
        tls_key: Option<PathBuf>,
        /// Require client certificates signed by this CA (PEM).
        #[arg(long)]
        tls_client_ca: Option<PathBuf>,
        /// Serve live metrics (Prometheus/OpenMetrics text at /metrics) on host:port.
        #[arg(long, value_name = "HOST:PORT")]
        metrics_listen: Option<String>,
        #[command(flatten)]
        legacy: LegacyAgentFlags,
    },
    /// Controller: run a workload (locally, or on agents) and talk to agents.
    Ctl {
        #[command(subcommand)]
        command: CtlCommand,
    },
    /// Create (or reuse) an SSH key pair and install it on each host.
    #[command(name = "ssh-setup")]
    SshSetup {
        /// Hosts as user@host[:port], comma separated.
        #[arg(long, value_delimiter = ',', required = true)]
        hosts: Vec<String>,
        /// Private key to create or reuse (default ~/.ssh/sai3_id_ed25519; the public key is KEY.pub).
        #[arg(long)]
        key_path: Option<PathBuf>,
        /// SSH port for hosts given without :port (default 22).
        #[arg(long)]
        port: Option<u16>,
        /// File whose first line is the password (else SAI3_SSH_PASSWORD, else a prompt).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Record unknown host keys without asking (a changed key is still refused).
        #[arg(long)]
        accept_new_host_keys: bool,
        /// Only check that key login works.
        #[arg(long)]
        test_only: bool,
        /// known_hosts file (default ~/.ssh/known_hosts).
        #[arg(long)]
        known_hosts: Option<PathBuf>,
    },
    /// Merge results folders into one Excel workbook.
    Analyze {
        /// Results folders, comma separated.
        #[arg(long, value_delimiter = ',')]
        dirs: Vec<PathBuf>,
        #[arg(long)]
        output: PathBuf,
        /// Glob of results folder names (e.g. 'sai3-*'), searched in --base-dir.
        #[arg(long)]
        pattern: Option<String>,
        #[arg(long)]
        base_dir: Option<PathBuf>,
        /// Replace an existing output file.
        #[arg(long)]
        overwrite: bool,
    },
    /// Print the shell completion script (e.g. `sai3 completions bash > /etc/bash_completion.d/sai3`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Rewrite a config written for sai3-bench in sai3's own spelling (one line per change on stderr).
    Convert {
        /// The config to convert.
        config: PathBuf,
        /// Write the converted config here (default: stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Issue the operations of an op-log again, at their recorded times (divided by --speed).
    Replay {
        /// The op-log: sai3's oplog.tsv.zst or warp's .csv.zst (plain text when not .zst).
        #[arg(long)]
        oplog: PathBuf,
        /// Send every operation to this base URI instead of the recorded endpoints.
        #[arg(long)]
        target: Option<String>,
        /// Rewrite a URI prefix, OLD=NEW (after --target; repeat for several; the first match wins).
        #[arg(long, value_name = "OLD=NEW")]
        remap: Vec<String>,
        /// Divide the recorded times by this (2: twice as fast).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Workers issuing the operations (enough to keep the schedule: late starts are counted).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Folder in which the results folder is created (default: current directory).
        #[arg(long)]
        results_dir: Option<PathBuf>,
        /// Print the operations per kind, the time span and the peak rate; touch nothing.
        #[arg(long)]
        dry_run: bool,
        /// Record the replay's own operations in an op-log too.
        #[arg(long)]
        op_log: bool,
        /// Print results.json on stdout at the end (the console goes to stderr).
        #[arg(long)]
        json: bool,
    },
    /// Tools on op-log files.
    Oplog {
        #[command(subcommand)]
        command: OplogCommand,
    },
    /// Print the man page sai3(1), or write it and one page per subcommand into --dir.
    Man {
        /// Folder to write sai3.1, sai3-agent.1, sai3-ctl-run.1, … into (instead of stdout).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum OplogCommand {
    /// Merge op-logs (e.g. one per agent) into one, in start-time order.
    Merge {
        /// The op-log files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The merged file (.zst: compressed).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Counts, bytes, errors and latency percentiles per operation, and the slowest operations.
    Stats {
        file: PathBuf,
        /// How many of the slowest operations to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
}

#[derive(Subcommand)]
enum CtlCommand {
    /// Run a workload config: in-process without a `distributed:` section, on agents with one.
    Run {
        #[arg(long)]
        config: PathBuf,
        /// Print the resolved plan and touch nothing.
        #[arg(long)]
        dry_run: bool,
        /// Agents as host:port, comma separated (instead of `distributed.agents`).
        #[arg(long, value_delimiter = ',')]
        agents: Vec<String>,
        /// Folder in which the results folder is created (default: current directory).
        #[arg(long)]
        results_dir: Option<PathBuf>,
        /// Print results.json on stdout at the end (the console goes to stderr).
        #[arg(long)]
        json: bool,
        /// Serve live metrics (Prometheus/OpenMetrics text at /metrics) on host:port while the run is in progress.
        #[arg(long, value_name = "HOST:PORT")]
        metrics_listen: Option<String>,
        /// Once the run has ended, wait up to this many seconds for one more scrape, so the final
        /// figures reach the scraper (only when something scraped during the run; 0: do not wait).
        #[arg(long, value_name = "SECONDS", default_value_t = 15)]
        metrics_linger: u64,
    },
    /// Check that each agent answers, and print its version.
    Ping {
        #[arg(long, value_delimiter = ',', required = true)]
        agents: Vec<String>,
        /// File with the shared token (or SAI3_AGENT_TOKEN).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
}

/// The older tool's program names (seed documents) map onto subcommands, so `sai3bench-agent`,
/// `sai3bench-ctl`, `sai3-analyze` and `sai3-bench run|convert` work as written when linked to
/// this binary.
fn args_with_aliases() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let prog = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let sub = match prog.as_str() {
        "sai3bench-agent" | "sai3-agent" => Some("agent"),
        "sai3bench-ctl" | "sai3-ctl" => {
            if args.get(1).is_some_and(|a| a == "ssh-setup") {
                None
            } else {
                // sai3bench-ctl took `--agents A,B` before its subcommand; sai3 takes it after.
                if let (Some(i), Some(sub)) =
                    (args.iter().position(|a| a == "--agents"), args.iter().position(|a| a == "run" || a == "ping"))
                {
                    if i < sub && i + 1 < args.len() {
                        let moved: Vec<std::ffi::OsString> = args.drain(i..i + 2).collect();
                        let at = (sub - 2 + 1).min(args.len());
                        for (k, a) in moved.into_iter().enumerate() {
                            args.insert(at + k, a);
                        }
                    }
                }
                Some("ctl")
            }
        }
        "sai3-analyze" | "sai3bench-analyze" => Some("analyze"),
        // `sai3-bench run --config X`, `sai3-bench convert --config X`, `sai3-bench replay --op-log F`.
        "sai3-bench" => match args.get(1).and_then(|a| a.to_str()) {
            Some("run") => Some("ctl"),
            Some("convert") => {
                if let Some(i) = args.iter().position(|a| a == "--config") {
                    args.remove(i);
                }
                None
            }
            // `sai3-bench replay --op-log FILE`: the op-log to replay is `--oplog` here.
            Some("replay") => {
                if let Some(i) = args.iter().position(|a| a == "--op-log") {
                    args[i] = "--oplog".into();
                }
                None
            }
            _ => None,
        },
        _ => None,
    };
    if let Some(sub) = sub {
        args.insert(1, sub.into());
    }
    args
}

/// A statically linked glibc (the release artifact, docs/INSTALL.md) resolves `files` and `dns`
/// with code built into the binary, but would `dlopen` any other NSS module named in the host's
/// nsswitch.conf (mdns, resolve, sss, …) — built for the host's glibc, not ours. So the static
/// binary resolves host names from /etc/hosts and DNS (/etc/resolv.conf) only, as musl and Go's
/// pure resolver do, and never loads a host library. Called first, before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu", target_feature = "crt-static"))]
fn static_name_services() {
    use std::ffi::{c_char, c_int};
    extern "C" {
        /// glibc, <nss.h>: replace the service line of one NSS database.
        fn __nss_configure_lookup(db: *const c_char, service_line: *const c_char) -> c_int;
    }
    for (db, services) in [(c"hosts", c"files dns"), (c"passwd", c"files"), (c"group", c"files")] {
        // SAFETY: two NUL-terminated static strings; no other thread runs yet.
        unsafe { __nss_configure_lookup(db.as_ptr(), services.as_ptr()) };
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu", target_feature = "crt-static")))]
fn static_name_services() {}

fn main() -> ExitCode {
    static_name_services();
    // Two rustls providers are compiled in (ring for us, aws-lc for a dependency): choose ring
    // once, before any TLS configuration is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A bug must still end in one readable line, not a Rust backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error in sai3 ({info}) — please report it with the command line and the config");
    }));
    let cli = Cli::parse_from(args_with_aliases());
    let agent = matches!(cli.command, Command::Agent { .. });
    cmd::logging::init(cmd::logging::Verbosity { verbose: cli.verbose, quiet: cli.quiet }, agent);
    let result = match cli.command {
        Command::Agent { listen, id, token_file, tls_cert, tls_key, tls_client_ca, metrics_listen, legacy } => {
            cmd::agent::run(cmd::agent::AgentArgs {
                legacy_tls: legacy.tls_given(),
                op_log: legacy.op_log,
                listen,
                id,
                token_file,
                tls_cert,
                tls_key,
                tls_client_ca,
                metrics_listen,
            })
        }
        Command::Ctl {
            command: CtlCommand::Run { config, dry_run, agents, results_dir, json, metrics_listen, metrics_linger },
        } => cmd::ctl::run(cmd::ctl::RunArgs {
            config,
            dry_run,
            agents,
            results_dir,
            json,
            metrics_listen,
            metrics_linger: std::time::Duration::from_secs(metrics_linger),
        }),
        Command::Ctl { command: CtlCommand::Ping { agents, token_file } } => cmd::ctl_ping::ping(agents, token_file),
        Command::SshSetup { hosts, key_path, port, password_file, accept_new_host_keys, test_only, known_hosts } => {
            cmd::ssh_setup::run(cmd::ssh_setup::SshSetupArgs {
                hosts,
                key_path,
                port,
                password_file,
                accept_new_host_keys,
                test_only,
                known_hosts,
            })
        }
        Command::Analyze { dirs, output, pattern, base_dir, overwrite } => {
            cmd::analyze::run(cmd::analyze::AnalyzeArgs { dirs, output, pattern, base_dir, overwrite })
        }
        Command::Completions { shell } => cmd::completions::run(Cli::command(), shell),
        Command::Man { dir } => cmd::man::run(Cli::command(), dir),
        Command::Replay { oplog, target, remap, speed, concurrency, results_dir, dry_run, op_log, json } => {
            cmd::replay::run(cmd::replay::ReplayArgs {
                oplog,
                target,
                remap,
                speed,
                concurrency,
                results_dir,
                dry_run,
                record: op_log,
                json,
            })
        }
        Command::Oplog { command: OplogCommand::Merge { files, output, force } } => {
            cmd::oplog::merge(files, output, force)
        }
        Command::Oplog { command: OplogCommand::Stats { file, top } } => cmd::oplog::stats(file, top),
        Command::Convert { config, output, force } => {
            cmd::convert::run(cmd::convert::ConvertArgs { input: config, output, force })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {f}");
            ExitCode::from(f.exit_code() as u8)
        }
    }
}

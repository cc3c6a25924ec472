//! `sai3 man [--dir D]`: the man page sai3(1) on stdout, or sai3.1 and one page per subcommand
//! (sai3-agent.1, sai3-ctl-run.1, …) written into D. Glue only: clap_mangen renders the
//! `clap::Command` that main.rs defines; this file adds the sections clap knows nothing about.

use std::path::{Path, PathBuf};

use super::{CmdResult, Failure};

/// Sections of sai3(1) beyond what the command line itself describes (roff).
const EXTRA: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
success
.TP
\fB1\fR
the run finished but something failed (errors over the threshold, an agent lost)
.TP
\fB2\fR
bad usage or config; nothing was touched
.SH ENVIRONMENT
.TP
\fBSAI3_AGENT_TOKEN\fR
the shared token between controller and agents (instead of \fB\-\-token\-file\fR)
.TP
\fBAWS_ACCESS_KEY_ID\fR, \fBAWS_SECRET_ACCESS_KEY\fR, \fBAWS_REGION\fR, \fBAWS_ENDPOINT_URL\fR
S3 credentials and endpoint
.TP
\fBAZURE_STORAGE_ACCOUNT_NAME\fR, \fBAZURE_STORAGE_ACCOUNT_KEY\fR
Azure Blob credentials
.TP
\fBGOOGLE_SERVICE_ACCOUNT\fR, \fBGOOGLE_APPLICATION_CREDENTIALS\fR
GCS credentials
.SH EXAMPLES
.nf
sai3 ctl run \-\-config workload.yaml
sai3 agent \-\-listen 0.0.0.0:7761 \-\-token\-file /etc/sai3/token
sai3 ctl ping \-\-agents host1:7761,host2:7761
sai3 analyze \-\-dirs sai3\-20250101\-1200\-a,sai3\-20250101\-1300\-b \-\-output runs.xlsx
.fi
.SH "SEE ALSO"
The project's docs/ folder: CONFIG.md (every config key), OUTPUT.md (the results folder),
STORAGE.md, DISTRIBUTED.md, SSH.md, KUBERNETES.md, INSTALL.md.
"#;

pub fn run(cli: clap::Command, dir: Option<PathBuf>) -> CmdResult {
    let mut cli = cli.disable_help_subcommand(true);
    // build() gives subcommands their display names (sai3-ctl-run), which name their pages.
    cli.build();
    match dir {
        None => super::completions::write_stdout(&page(&cli, true)?),
        Some(dir) => write_pages(&cli, &dir, true),
    }
}

fn page(cmd: &clap::Command, top: bool) -> Result<Vec<u8>, Failure> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut roff)
        .map_err(|e| Failure::Run(format!("rendering the man page: {e}")))?;
    if top {
        roff.extend_from_slice(EXTRA.as_bytes());
    }
    Ok(roff)
}

fn write_pages(cmd: &clap::Command, dir: &Path, top: bool) -> CmdResult {
    std::fs::create_dir_all(dir).map_err(|e| Failure::Usage(format!("--dir {}: {e}", dir.display())))?;
    let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page(cmd, top)?).map_err(|e| Failure::Run(format!("writing {}: {e}", path.display())))?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, false)?;
    }
    Ok(())
}

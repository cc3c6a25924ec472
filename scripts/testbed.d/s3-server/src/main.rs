//! `sai3-testbed-s3 --host H --port P [--access-key K --secret-key S] ROOT`: an S3 endpoint over
//! the directory ROOT (buckets are its subdirectories), served by the s3s-fs library with SigV4
//! checks, on connections with Nagle's algorithm off. Same arguments as the s3s-fs binary.

use std::path::PathBuf;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

struct Args {
    host: String,
    port: u16,
    key: Option<(String, String)>,
    root: PathBuf,
}

fn parse() -> Result<Args, String> {
    let mut host = "127.0.0.1".to_string();
    let mut port = 8014u16;
    let (mut ak, mut sk, mut root) = (None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--version" => {
                println!("sai3-testbed-s3 {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "--host" => host = val("--host")?,
            "--port" => port = val("--port")?.parse().map_err(|e| format!("--port: {e}"))?,
            "--access-key" => ak = Some(val("--access-key")?),
            "--secret-key" => sk = Some(val("--secret-key")?),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => root = Some(PathBuf::from(s)),
        }
    }
    let key = match (ak, sk) {
        (Some(a), Some(s)) => Some((a, s)),
        (None, None) => None,
        _ => return Err("--access-key and --secret-key go together".into()),
    };
    Ok(Args { host, port, key, root: root.ok_or("the data directory (ROOT) is missing")? })
}

#[tokio::main]
async fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sai3-testbed-s3: {e}\nusage: sai3-testbed-s3 --host H --port P [--access-key K --secret-key S] ROOT");
            std::process::exit(2);
        }
    };
    if let Err(e) = serve(args).await {
        eprintln!("sai3-testbed-s3: {e}");
        std::process::exit(1);
    }
}

async fn serve(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let fs = s3s_fs::FileSystem::new(&args.root).map_err(|e| format!("{}: {e:?}", args.root.display()))?;
    let mut b = S3ServiceBuilder::new(fs);
    if let Some((ak, sk)) = args.key {
        b.set_auth(SimpleAuth::from_single(ak, sk));
    }
    let service = b.build();
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    eprintln!("sai3-testbed-s3: serving {} on http://{}", args.root.display(), listener.local_addr()?);
    let http = Builder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let socket = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("sai3-testbed-s3: accept: {e}");
                    continue;
                }
            },
            _ = stop.as_mut() => break,
        };
        // The point of this program: answer without waiting for the peer's delayed ACK.
        let _ = socket.set_nodelay(true);
        let conn = graceful.watch(http.serve_connection(TokioIo::new(socket), service.clone()).into_owned());
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
    Ok(())
}

//! `sai3-testbed-s3 --host H --port P [--port P2 ...] [--access-key K --secret-key S] ROOT`: S3
//! endpoints over the directory ROOT (buckets are its subdirectories), served by the s3s-fs library
//! with SigV4 checks, on connections with Nagle's algorithm off.
//!
//! Several ports are served by one process and one s3s-fs `FileSystem`, never by two processes on
//! one ROOT: s3s-fs names its temporary files `.tmp.N.internal.part` from a counter of its own,
//! so two processes on one directory wrote the same temporary files at once (PUTs failed with
//! HTTP 500 and left corrupt `.internal.json` files behind, which failed later GETs).

use std::path::PathBuf;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

struct Args {
    host: String,
    ports: Vec<u16>,
    key: Option<(String, String)>,
    root: PathBuf,
}

fn parse() -> Result<Args, String> {
    let mut host = "127.0.0.1".to_string();
    let mut ports = Vec::new();
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
            "--port" => ports.push(val("--port")?.parse().map_err(|e| format!("--port: {e}"))?),
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
    if ports.is_empty() {
        ports.push(8014);
    }
    Ok(Args { host, ports, key, root: root.ok_or("the data directory (ROOT) is missing")? })
}

#[tokio::main]
async fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sai3-testbed-s3: {e}\nusage: sai3-testbed-s3 --host H --port P [--port P2 ...] [--access-key K --secret-key S] ROOT");
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
    let mut listeners = Vec::new();
    for port in &args.ports {
        let l = tokio::net::TcpListener::bind((args.host.as_str(), *port)).await?;
        eprintln!("sai3-testbed-s3: serving {} on http://{}", args.root.display(), l.local_addr()?);
        listeners.push(l);
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    for l in listeners {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match l.accept().await {
                    Ok((s, _)) => {
                        if tx.send(s).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => eprintln!("sai3-testbed-s3: accept: {e}"),
                }
            }
        });
    }
    drop(tx);
    let http = Builder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let socket = tokio::select! {
            s = rx.recv() => match s {
                Some(s) => s,
                None => break,
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

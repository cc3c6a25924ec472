//! Generates the gRPC code for `proto/sai3/v1/*.proto` into OUT_DIR (never committed).
//! protoc comes from the `protoc-bin-vendored` crate so a fresh machine needs no system protoc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
        unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    }
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure().compile_protos(&["proto/sai3/v1/agent.proto"], &["proto"])?;
    Ok(())
}

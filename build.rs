//! The web inbox's files (`static/`) are compiled into the binary by rust-embed, which
//! tracks the files it saw but not new ones: rebuild whenever the folder changes.
fn main() {
    println!("cargo:rerun-if-changed=static");
}

//! Secrets the server makes for itself when none is configured.
//!
//! A generated secret is written once to a file readable only by its owner and read
//! back on every later start, so tokens stay valid across restarts. Several nodes
//! cannot share such a file: a cluster configures its secrets instead.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Owner read/write only.
const SECRET_FILE_MODE: u32 = crate::files::PRIVATE_FILE;

pub fn load_or_create(path: &Path) -> std::io::Result<String> {
    load_or_create_with(path, crate::auth::opaque::random_text)
}

/// Like `load_or_create`, with the new secret drawn by `generate`.
pub fn load_or_create_with<E: std::fmt::Display>(
    path: &Path,
    generate: impl FnOnce() -> Result<String, E>,
) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            // An older install may have left it readable by others.
            crate::files::restrict(path, SECRET_FILE_MODE)?;
            return Ok(text.trim().to_owned());
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                ErrorKind::InvalidData,
                format!("{} is empty", path.display()),
            ));
        }
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    if let Some(dir) = path.parent() {
        crate::files::private_dir(dir)?;
    }
    let secret = generate().map_err(|err| std::io::Error::other(err.to_string()))?;
    // create_new: of two processes starting at once, one writes and the other reads.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(SECRET_FILE_MODE)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())?;
            file.sync_all()?;
            Ok(secret)
        }
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(path)?.trim().to_owned())
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_generated_secret_is_private_and_stable_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("jwt-secret");
        let first = load_or_create(&path).unwrap();
        assert!(first.len() >= 32);
        assert_eq!(load_or_create(&path).unwrap(), first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

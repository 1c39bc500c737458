//! A TCP proxy in front of the database, so a test can cut one node off from it (a
//! network partition) while the others keep their connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    severed: watch::Sender<bool>,
}

impl Proxy {
    /// Forwards 127.0.0.1:`port` to `target` (`host:port`), on a thread of its own
    /// (the test's thread may block, starting a node).
    pub fn start(target: String) -> Proxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let (severed, watching) = watch::channel(false);
        let refusing = cut.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(serve(std_listener, target, refusing, watching));
        });
        Proxy { port, cut, severed }
    }

    /// Drops every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        let _ = self.severed.send(true);
    }
}

async fn serve(
    listener: std::net::TcpListener,
    target: String,
    refusing: Arc<AtomicBool>,
    watching: watch::Receiver<bool>,
) {
    let listener = TcpListener::from_std(listener).unwrap();
    while let Ok((mut client, _)) = listener.accept().await {
        if refusing.load(Ordering::Acquire) {
            continue;
        }
        let target = target.clone();
        let mut severed = watching.clone();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(&target).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = severed.wait_for(|cut| *cut) => {}
            }
        });
    }
}

//! A cuttable TCP relay, to take a dependency away from a running service.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// A TCP relay in front of a local server (PostgreSQL, RabbitMQ) that a test
/// can cut: while it is down, open sessions are torn down and new ones are
/// closed at once, which is what a client sees when the server stops.
pub struct Switch {
    pub port: u16,
    down: Arc<AtomicBool>,
    sessions: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Switch {
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let sessions: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (flag, open) = (Arc::clone(&down), Arc::clone(&sessions));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let session = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                open.lock().await.push(session);
            }
        });
        Self { port, down, sessions }
    }

    pub async fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for session in self.sessions.lock().await.drain(..) {
            session.abort();
        }
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

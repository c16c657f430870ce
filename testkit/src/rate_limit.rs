//! A JSON-RPC node that rate-limits: an HTTP server on the loopback that answers its first
//! requests `429 Too Many Requests` with a `Retry-After` header, then passes every request on
//! to a real node (an anvil) and its answer back. For the clients' handling of rate limits.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use alloy::transports::http::reqwest;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// The server; stops when dropped.
pub struct RateLimitedNode {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl RateLimitedNode {
    /// Refuses the first `refusals` requests with 429 and `Retry-After: retry_after` (whole
    /// seconds; `None`: no header), then forwards to `upstream` (an `http://` URL).
    pub async fn start(
        upstream: &str,
        refusals: usize,
        retry_after: Option<Duration>,
    ) -> RateLimitedNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.to_owned();
        let client = reqwest::Client::new();
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (upstream, client, counter) =
                    (upstream.clone(), client.clone(), counter.clone());
                tokio::spawn(async move {
                    let _ =
                        serve(socket, &upstream, &client, &counter, refusals, retry_after).await;
                });
            }
        });
        RateLimitedNode {
            addr,
            requests,
            task,
        }
    }

    /// Its URL, with a path and a query as a node provider's URL has (they are not checked).
    pub fn url(&self) -> String {
        format!("http://{}/v2/KEY?tier=free", self.addr)
    }

    /// The requests received so far, refused or passed on.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for RateLimitedNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the requests of one connection (HTTP/1.1, keep-alive) until the client closes it.
async fn serve(
    socket: TcpStream,
    upstream: &str,
    client: &reqwest::Client,
    counter: &AtomicUsize,
    refusals: usize,
    retry_after: Option<Duration>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(socket);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.trim().eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).await?;
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let response = if n < refusals {
            let hint = retry_after
                .map(|d| format!("Retry-After: {}\r\n", d.as_secs()))
                .unwrap_or_default();
            format!(
                "HTTP/1.1 429 Too Many Requests\r\n{hint}Content-Type: text/plain\r\nContent-Length: 17\r\n\r\ntoo many requests"
            )
            .into_bytes()
        } else {
            let answer = client
                .post(upstream)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(std::io::Error::other)?
                .bytes()
                .await
                .map_err(std::io::Error::other)?;
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                answer.len()
            )
            .into_bytes();
            r.extend_from_slice(&answer);
            r
        };
        reader.get_mut().write_all(&response).await?;
    }
}

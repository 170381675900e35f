//! HTTP/1.1 by hand, for clients no well-behaved library would imitate: ones that stall
//! mid-body, trickle bytes, or never send a boundary.

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::TestApp;

/// The request line and headers of a multipart upload to `path` declaring `length` body bytes.
pub fn upload_head(path: &str, token: &str, boundary: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// The headers of a `file` part, from its boundary line to the blank line.
pub fn file_part_head(boundary: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"raw.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
}

/// Connects to the server and sends `bytes`.
pub async fn send(app: &TestApp, bytes: &[u8]) -> anyhow::Result<TcpStream> {
    let mut socket = TcpStream::connect(app.addr).await?;
    socket.write_all(bytes).await?;
    socket.flush().await?;
    Ok(socket)
}

/// Reads one answer within `limit`: its status and JSON body.
pub async fn read_answer(socket: &mut TcpStream, limit: Duration) -> anyhow::Result<(u16, Value)> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    let body_start = tokio::time::timeout(limit, async {
        loop {
            if let Some(at) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&answer[..at]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if answer.len() >= at + 4 + length {
                    return Ok::<_, anyhow::Error>(at + 4);
                }
            }
            let n = socket.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "connection closed after {:?}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .context("no answer in time")??;
    let status_line = String::from_utf8_lossy(&answer[..answer.len().min(12)]).to_string();
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP answer: {status_line:?}"))?;
    let body = serde_json::from_slice(&answer[body_start..]).unwrap_or(Value::Null);
    Ok((status, body))
}

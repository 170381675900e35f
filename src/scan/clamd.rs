//! A client for clamd's INSTREAM command (`zINSTREAM`, then length-prefixed chunks, then a
//! zero length; the answer is `stream: OK`, `stream: <signature> FOUND` or an error).

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// How long clamd may take over one command.
const TIMEOUT: Duration = Duration::from_secs(120);
/// clamd's own INSTREAM chunks are at most this long by default.
const STREAM_CHUNK: usize = 64 * 1024;

/// Where clamd listens: `tcp://host:port` or `unix:/path/to/clamd.sock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClamdAddr {
    Tcp(String),
    Unix(PathBuf),
}

impl std::str::FromStr for ClamdAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(addr) = s.strip_prefix("tcp://") {
            Ok(Self::Tcp(addr.to_string()))
        } else if let Some(path) = s.strip_prefix("unix:") {
            Ok(Self::Unix(PathBuf::from(path.trim_start_matches("//"))))
        } else {
            Err(format!("{s:?}: use tcp://host:port or unix:/path/to/clamd.sock"))
        }
    }
}

/// clamd's judgement of one stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Infected(String),
    /// clamd did not judge the content (over one of its limits): never a clean bill.
    NotJudged(String),
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn connect(addr: &ClamdAddr) -> std::io::Result<Box<dyn Stream>> {
    Ok(match addr {
        ClamdAddr::Tcp(host) => Box::new(TcpStream::connect(host).await?),
        ClamdAddr::Unix(path) => Box::new(UnixStream::connect(path).await?),
    })
}

fn timed_out() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "clamd did not answer in time")
}

/// `PING` → `PONG`.
pub async fn ping(addr: &ClamdAddr) -> std::io::Result<()> {
    let answer = tokio::time::timeout(TIMEOUT, async {
        let mut stream = connect(addr).await?;
        stream.write_all(b"zPING\0").await?;
        read_answer(&mut stream).await
    })
    .await
    .map_err(|_| timed_out())??;
    if answer == "PONG" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("clamd answered {answer:?} to PING")))
    }
}

/// An INSTREAM session: send content in pieces, then ask for the verdict.
pub struct Scan {
    stream: Box<dyn Stream>,
    /// Set when clamd closed the stream early; its answer says why.
    closed_early: bool,
}

impl Scan {
    pub async fn start(addr: &ClamdAddr) -> std::io::Result<Self> {
        let mut stream = tokio::time::timeout(TIMEOUT, connect(addr))
            .await
            .map_err(|_| timed_out())??;
        stream.write_all(b"zINSTREAM\0").await?;
        Ok(Self {
            stream,
            closed_early: false,
        })
    }

    pub async fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.closed_early {
            return Ok(());
        }
        for piece in data.chunks(STREAM_CHUNK) {
            let length = u32::try_from(piece.len()).map_err(std::io::Error::other)?;
            let write = async {
                self.stream.write_all(&length.to_be_bytes()).await?;
                self.stream.write_all(piece).await
            };
            match tokio::time::timeout(TIMEOUT, write).await.map_err(|_| timed_out())? {
                Ok(()) => {}
                // clamd stops reading past StreamMaxLength and says so before closing.
                Err(err)
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                    ) =>
                {
                    self.closed_early = true;
                    return Ok(());
                }
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    pub async fn finish(mut self) -> std::io::Result<Verdict> {
        if !self.closed_early {
            tokio::time::timeout(TIMEOUT, self.stream.write_all(&0u32.to_be_bytes()))
                .await
                .map_err(|_| timed_out())??;
        }
        let answer = tokio::time::timeout(TIMEOUT, read_answer(&mut self.stream))
            .await
            .map_err(|_| timed_out())??;
        parse_answer(&answer)
    }
}

async fn read_answer(stream: &mut Box<dyn Stream>) -> std::io::Result<String> {
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    // Answers end with NUL (the `z` commands) and are short.
    while answer.len() < 4096 {
        if stream.read(&mut byte).await? == 0 || byte[0] == 0 {
            break;
        }
        answer.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&answer).trim().to_string())
}

fn parse_answer(answer: &str) -> std::io::Result<Verdict> {
    let body = answer.strip_prefix("stream: ").unwrap_or(answer);
    if body == "OK" {
        return Ok(Verdict::Clean);
    }
    if let Some(signature) = body.strip_suffix(" FOUND") {
        // With AlertExceedsMax, clamd reports content it skipped as a heuristic "find".
        if signature.starts_with("Heuristics.Limits.Exceeded") {
            return Ok(Verdict::NotJudged(format!("over a clamd scan limit ({signature})")));
        }
        return Ok(Verdict::Infected(signature.to_string()));
    }
    if body.contains("size limit exceeded") {
        return Ok(Verdict::NotJudged("over clamd's StreamMaxLength".into()));
    }
    Err(std::io::Error::other(format!("clamd answered {answer:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_understood() {
        assert_eq!(parse_answer("stream: OK").ok(), Some(Verdict::Clean));
        assert_eq!(
            parse_answer("stream: Eicar-Signature FOUND").ok(),
            Some(Verdict::Infected("Eicar-Signature".into()))
        );
        assert!(matches!(
            parse_answer("stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND"),
            Ok(Verdict::NotJudged(_))
        ));
        assert!(matches!(
            parse_answer("INSTREAM size limit exceeded. ERROR"),
            Ok(Verdict::NotJudged(_))
        ));
        assert!(parse_answer("UNKNOWN COMMAND").is_err());
        assert_eq!(
            "unix:/run/clamd.sock".parse(),
            Ok(ClamdAddr::Unix("/run/clamd.sock".into()))
        );
        assert_eq!(
            "tcp://127.0.0.1:3310".parse(),
            Ok(ClamdAddr::Tcp("127.0.0.1:3310".into()))
        );
        assert!("127.0.0.1:3310".parse::<ClamdAddr>().is_err());
    }
}

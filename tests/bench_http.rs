//! The load generator's own HTTP/1.1 client (`matrix::client::http`)
//! against scripted raw-TCP servers: body framings, keep-alive reuse,
//! a pooled connection the server closed, and broken responses.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use matrix::client::http::{Http, Method};

/// What the server does on one connection: answer each request with the
/// next response (written in the given pieces), then close.
type Script = Vec<Vec<&'static [u8]>>;

/// Serve `conns` connections, one script each; returns the base URL and
/// the number of connections accepted so far.
fn serve(conns: Vec<Script>) -> (String, Arc<AtomicUsize>) {
    let (url, accepted, _) = serve_counted(conns);
    (url, accepted)
}

/// [`serve`], also counting the connections the server has closed (after
/// its script for them).
fn serve_counted(conns: Vec<Script>) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (count, closes) = (accepted.clone(), closed.clone());
    std::thread::spawn(move || {
        for script in conns {
            let Ok((mut tcp, _)) = listener.accept() else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let _ = tcp.set_nodelay(true);
            for pieces in script {
                read_request(&mut tcp);
                for piece in pieces {
                    let _ = tcp.write_all(piece);
                    let _ = tcp.flush();
                    // Let the client see each piece in its own read (a
                    // stimulus, not a wait: merged pieces parse the same).
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            drop(tcp);
            closes.fetch_add(1, Ordering::SeqCst);
        }
    });
    (url, accepted, closed)
}

/// Read one request: head, then `content-length` bytes of body.
fn read_request(tcp: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = tcp.read_exact(&mut body);
}

async fn get(http: &Http, url: &str) -> Result<(u16, String), String> {
    let (status, body) = http
        .call(Method::Get, url, None, Duration::from_secs(10))
        .await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test]
async fn content_length_bodies_reuse_one_connection() {
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
    let (url, accepted) = serve(vec![vec![vec![ok], vec![ok], vec![ok]]]);
    let http = Http::new();
    for _ in 0..3 {
        assert_eq!(get(&http, &url).await.unwrap(), (200, "hello".into()));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn chunked_body_cut_anywhere() {
    let pieces: Vec<&'static [u8]> = vec![
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n",
        b"\r\n5\r",
        b"\nhel",
        b"lo\r\n",
        b"1;ext=x\r\n \r\n6\r\nworld!\r\n0\r\n",
        b"trailer: 1\r\n\r\n",
    ];
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let (url, accepted) = serve(vec![vec![pieces, vec![ok]]]);
    let http = Http::new();
    assert_eq!(
        get(&http, &url).await.unwrap(),
        (200, "hello world!".into())
    );
    // The chunked body was read to its end, so the connection is reused.
    assert_eq!(get(&http, &url).await.unwrap(), (200, "ok".into()));
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn pooled_connection_closed_by_the_server_is_replaced() {
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na";
    // First connection: one answer, then the server closes it.
    let (url, accepted, closed) = serve_counted(vec![vec![vec![ok]], vec![vec![ok]]]);
    let http = Http::new();
    assert_eq!(get(&http, &url).await.unwrap(), (200, "a".into()));
    // Wait until the server has closed the pooled connection.
    let until = Instant::now() + Duration::from_secs(10);
    while closed.load(Ordering::SeqCst) < 1 {
        assert!(Instant::now() < until, "the server never closed it");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(get(&http, &url).await.unwrap(), (200, "a".into()));
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn body_until_close_and_connection_close() {
    let v10: &[u8] = b"HTTP/1.0 200 OK\r\n\r\nto the end";
    let close: &[u8] = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nhi";
    let (url, accepted) = serve(vec![vec![vec![v10]], vec![vec![close]], vec![vec![close]]]);
    let http = Http::new();
    assert_eq!(get(&http, &url).await.unwrap(), (200, "to the end".into()));
    assert_eq!(get(&http, &url).await.unwrap(), (200, "hi".into()));
    assert_eq!(get(&http, &url).await.unwrap(), (200, "hi".into()));
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn error_status_keeps_its_body() {
    let busy: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy";
    let (url, _) = serve(vec![vec![vec![busy]]]);
    assert_eq!(get(&Http::new(), &url).await.unwrap(), (503, "busy".into()));
}

#[tokio::test]
async fn broken_responses_are_errors() {
    let cases: [(&'static [u8], &str); 4] = [
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf",
            "closed before message completed",
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            "invalid chunk size",
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc",
            "closed before message completed",
        ),
        (b"SMTP ready\r\n\r\n", "invalid HTTP response"),
    ];
    for (response, want) in cases {
        let (url, _) = serve(vec![vec![vec![response]]]);
        let err = get(&Http::new(), &url).await.unwrap_err();
        assert!(err.contains(want), "{err:?} should say {want:?}");
    }
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let err = get(&Http::new(), &format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert!(err.contains("connect"), "{err}");
}

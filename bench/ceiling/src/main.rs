//! The ceiling for Casement's HTTP benchmarks: hyper answering every request with a fixed
//! JSON body, no routing, no signature, no storage. Same runtime and HTTP stack as
//! Casement, so the ratio between the two is the cost of Casement's own work.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const BODY: &[u8] = br#"{"WindowId":"mw-0123456789abcdef0","Name":"bench","Schedule":"rate(1 day)","Duration":2,"Cutoff":1,"AllowUnassociatedTargets":false,"Enabled":true,"CreatedDate":1764000000.0,"ModifiedDate":1764000000.0}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:4590".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("ceiling listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let svc = service_fn(|req: Request<hyper::body::Incoming>| async {
                if std::env::var_os("CEILING_READ_BODY").is_some() {
                    let _ = http_body_util::BodyExt::collect(req.into_body()).await;
                }
                let mut r = Response::new(Full::new(Bytes::from_static(BODY)));
                r.headers_mut().insert("content-type", "application/x-amz-json-1.1".parse().expect("static header"));
                Ok::<_, Infallible>(r)
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

//! The reference for `bench/http-vs-references.sh`: the least a Rust HTTP server can do to
//! answer a request, i.e. hyper's HTTP/1 server on the same tokio runtime as Snakepit,
//! returning fixed bytes per path (captured from Snakepit by the script) and nothing else:
//! no routing beyond one hash lookup, no middleware, no log line.
//!
//! `cargo run --release --example bare_hyper -- ADDR PATH=FILE=CONTENT-TYPE ...`
//! (`PATH` includes the query, e.g. `/api/search?q=dict`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;

type Routes = HashMap<String, (Bytes, header::HeaderValue)>;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .expect("usage: bare_hyper ADDR PATH=FILE=CONTENT-TYPE ...");
    let mut routes = Routes::new();
    for spec in args {
        // From the right: the path may hold `=` (a query), the file and type do not.
        let mut fields = spec.rsplitn(3, '=');
        let (Some(kind), Some(file), Some(path)) = (fields.next(), fields.next(), fields.next())
        else {
            panic!("expected PATH=FILE=CONTENT-TYPE, got {spec}");
        };
        let body = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let kind = header::HeaderValue::from_str(kind).expect("a valid content type");
        routes.insert(path.to_string(), (Bytes::from(body), kind));
    }
    let routes = Arc::new(routes);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let routes = routes.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let found = request
                        .uri()
                        .path_and_query()
                        .and_then(|p| routes.get(p.as_str()))
                        .cloned();
                    async move {
                        let response = match found {
                            Some((body, kind)) => {
                                let mut response = Response::new(Full::new(body));
                                response.headers_mut().insert(header::CONTENT_TYPE, kind);
                                response
                            }
                            None => {
                                let mut response = Response::new(Full::new(Bytes::new()));
                                *response.status_mut() = StatusCode::NOT_FOUND;
                                response
                            }
                        };
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

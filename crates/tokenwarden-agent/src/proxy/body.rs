//! Request bodies on their way upstream: held whole when they fit in the replay bound (so that
//! a 401 can be answered by sending the request again), streamed otherwise (a large upload
//! starts flowing at once and is never held whole; its 401 is passed back, not retried).

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An upstream request body.
pub enum Outgoing {
    /// Held whole: it can be sent again.
    Whole(Bytes),
    /// Streamed, once (taken by the first attempt).
    Stream(Option<reqwest::Body>),
}

impl Outgoing {
    /// True when the body can be sent again.
    pub fn replayable(&self) -> bool {
        matches!(self, Outgoing::Whole(_))
    }

    /// The body for one attempt; a stream only the first time.
    pub fn take(&mut self) -> reqwest::Body {
        match self {
            Outgoing::Whole(b) => reqwest::Body::from(b.clone()),
            Outgoing::Stream(s) => s
                .take()
                .unwrap_or_else(|| reqwest::Body::from(Bytes::new())),
        }
    }
}

/// Reads `body` whole when it fits in `max` bytes (a `Content-Length` above `max` is streamed
/// at once without reading); otherwise streams what was read followed by the rest.
pub async fn prepare(
    mut body: Incoming,
    content_length: Option<u64>,
    max: usize,
) -> Result<Outgoing, hyper::Error> {
    if content_length.is_some_and(|n| n > max as u64) {
        return Ok(Outgoing::Stream(Some(reqwest::Body::wrap(body))));
    }
    let mut held = BytesMut::new();
    loop {
        if body.is_end_stream() {
            return Ok(Outgoing::Whole(held.freeze()));
        }
        let Some(frame) = body.frame().await else {
            return Ok(Outgoing::Whole(held.freeze()));
        };
        let frame = frame?;
        if let Ok(data) = frame.into_data() {
            held.extend_from_slice(&data);
            if held.len() > max {
                let prefixed = Prefixed {
                    prefix: Some(held.freeze()),
                    rest: body,
                };
                return Ok(Outgoing::Stream(Some(reqwest::Body::wrap(prefixed))));
            }
        }
        // Trailers of a held body are dropped (hop-by-hop `TE` is not forwarded either).
    }
}

/// What was read already, then the rest of the client's body.
struct Prefixed {
    prefix: Option<Bytes>,
    rest: Incoming,
}

impl Body for Prefixed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if let Some(p) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(p))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.rest.size_hint();
        let extra = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        hint.set_lower(hint.lower() + extra);
        if let Some(u) = hint.upper() {
            hint.set_upper(u + extra);
        }
        hint
    }
}

//! Page tokens are signed, so a client can pass one back but never forge one: keys for
//! that, derived from the token signing secret.

/// Signs and opens page tokens: base64url(body) "." base64url(HMAC-SHA256(body)).
pub struct PageKeys {
    key: [u8; 32],
}

impl PageKeys {
    /// Keys derived from the server's token signing secret, so every process of a
    /// deployment accepts the others' tokens.
    pub fn derive(secret: &[u8]) -> Self {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"attachd page tokens\0");
        hasher.update(secret);
        Self {
            key: hasher.finalize().into(),
        }
    }

    fn mac(&self, body: &[u8]) -> hmac::Hmac<sha2::Sha256> {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(body);
        mac
    }

    /// `body`, signed.
    pub fn seal(&self, body: &[u8]) -> String {
        use base64::Engine;
        use hmac::Mac;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let tag = self.mac(body).finalize().into_bytes();
        format!("{}.{}", engine.encode(body), engine.encode(tag))
    }

    /// The body of a token these keys sealed; None for any other.
    pub fn open(&self, token: &str) -> Option<Vec<u8>> {
        use base64::Engine;
        use hmac::Mac;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (body, tag) = token.split_once('.')?;
        let body = engine.decode(body).ok()?;
        let tag = engine.decode(tag).ok()?;
        self.mac(&body).verify_slice(&tag).ok()?;
        Some(body)
    }
}

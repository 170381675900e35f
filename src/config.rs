//! Command line and settings: defaults < `ATTACHD_*` environment < flags.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The embedded default database: created on first start, no setup needed.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./attachd-data/attachd.db";

#[derive(Debug, Parser)]
#[command(
    name = "attachd",
    version,
    about = "Multi-tenant attachment server that speaks the DataTrails API",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// With no subcommand attachd serves: `attachd --listen …` is `attachd serve --listen …`.
    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Log format.
    #[arg(long, env = "ATTACHD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate,
    /// Run the malware scanner alone (no HTTP server) until SIGTERM.
    Scan(Box<ServeArgs>),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage Mediapocket API keys.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Check offline, trusting only a pinned public key, that an event is in its tenant's
    /// signed log, or (`--consistency`) that a log only grew between two seals. Prints one
    /// line; exits non-zero on any failure.
    Verify(VerifyArgs),
    /// Manage the content store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Check the verifiable log.
    #[command(subcommand)]
    Log(LogCommand),
    /// Ask the server on `--listen` for `/healthz`; exit 0 when it answers 200 (a container's
    /// HEALTHCHECK: the image needs no shell or HTTP client).
    Healthcheck {
        /// The server's listen address; an unspecified one (0.0.0.0, ::) is asked on loopback.
        #[arg(long, env = "ATTACHD_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Print the OpenAPI description of every route (as served at /openapi.json), or write it to a file.
    Openapi {
        /// E.g. `openapi/attachd.json`.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A seal signing public key (PEM) to trust, as `GET /archivist/v1/merklelog/public-key`
    /// shows it; repeat it for keys from before a rotation.
    #[arg(long, required = true)]
    pub key: Vec<std::path::PathBuf>,
    /// Read massifs and seals from this attachd (or DataTrails) base URL.
    #[arg(long, conflicts_with = "dir", required_unless_present_any = ["dir", "receipt"])]
    pub url: Option<String>,
    /// Check the event against this SCITT receipt (`…/publicscitt/entries/{entry}/receipt`)
    /// instead, offline: nothing is fetched.
    #[arg(long, conflicts_with_all = ["url", "dir", "consistency"])]
    pub receipt: Option<std::path::PathBuf>,
    /// With `--receipt`: a file you were sent, which must be one the event records (an
    /// attachment's SHA-256, or a signed statement's payload).
    #[arg(long, requires = "receipt")]
    pub file: Option<std::path::PathBuf>,
    /// Read massifs and seals from this directory.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// The event's JSON as the API returned it (`-` for standard input).
    #[arg(required_unless_present = "consistency")]
    pub event: Option<std::path::PathBuf>,
    /// An earlier seal (`.sth`): check the log only grew from it to NEW (or the latest seal).
    #[arg(long, num_args = 1..=2, value_names = ["OLD", "NEW"], requires = "tenant")]
    pub consistency: Vec<std::path::PathBuf>,
    /// The tenant whose log `--consistency` checks (`tenant/<uuid>` or the uuid).
    #[arg(long)]
    pub tenant: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy every blob's content from the configured store (or `--from`) to `--to`,
    /// verifying each SHA-256. Safe while servers run; run it again to resume or to catch up.
    Migrate {
        /// The store to copy to: `database`, `file:///DIR` or `s3://BUCKET[/PREFIX]`.
        #[arg(long)]
        to: crate::store::StoreUrl,
        /// The store to copy from (default: `--content-store`).
        #[arg(long)]
        from: Option<crate::store::StoreUrl>,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Check every tenant's log (or one) offline against the log anchor: every event's and
    /// blob's leaf against its row, every interior node, every seal's signature, and that the
    /// log extends its anchored state. Prints a JSON summary (progress on standard error);
    /// exits non-zero on any failure. Run it after restoring a backup.
    Audit {
        /// Audit only this tenant (`tenant/<uuid>` or the uuid).
        #[arg(long)]
        tenant: Option<String>,
        /// Anchor the tenant's audited log anew: the only way to sign its log again after
        /// its anchor record was lost or it was restored from an older backup. Refused unless
        /// every check of the log itself passes. Logged as such.
        #[arg(long, requires = "tenant")]
        reanchor: bool,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Make a long-lived API key for a tenant; prints it (once) as JSON.
    Create {
        /// `tenant/<uuid>`.
        #[arg(long)]
        tenant: String,
        /// A name for people.
        #[arg(long, default_value = "")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with an administrator app registration; prints its credentials as JSON.
    /// Its log-anchor record is written first (the serve settings say where the anchor is).
    Create {
        /// A name for people.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
    /// Set the domain a tenant has proved it owns, shown by `…/tenancies/{uuid}:publicinfo`
    /// (`--domain ""` clears it).
    SetDomain {
        /// `tenant/<uuid>`.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        domain: String,
    },
    /// Give a tenant its own quotas (overriding the server's defaults).
    SetQuota {
        /// `tenant/<uuid>`.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        max_blobs: Option<u64>,
        #[arg(long)]
        max_bytes: Option<u64>,
        #[arg(long)]
        max_blob_bytes: Option<u64>,
    },
}

#[derive(Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (embedded, created on first start) or `postgres://…`.
    #[arg(long, env = "ATTACHD_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
}

impl fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field("database_url", &crate::repo::redact_url(&self.database_url))
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ATTACHD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// ECDSA P-384 private key (PEM) that signs the log's seals; every process of one
    /// deployment uses the same. Default: a key made on first start beside the SQLite file.
    #[arg(long, env = "ATTACHD_LOG_SIGNING_KEY")]
    pub log_signing_key: Option<PathBuf>,

    /// Where each tenant's latest seal is kept outside the metadata database: `file:///DIR`
    /// or `s3://BUCKET/PREFIX`. Default: `log-anchor/` beside the SQLite file; on PostgreSQL,
    /// a folder of the content store (a directory or S3). PostgreSQL with content in the
    /// database must name one.
    #[arg(long, env = "ATTACHD_LOG_ANCHOR")]
    pub log_anchor: Option<crate::store::StoreUrl>,

    /// The seal log's checkpoint key: a file holding a signed-note Ed25519 signer key
    /// (`PRIVATE+KEY+<origin>+<id>+<base64>`, as Go's note.GenerateKey writes it). Default on
    /// the embedded database: one made on first start, 0600, beside it. A PostgreSQL
    /// deployment without one has no seal log.
    #[arg(long, env = "ATTACHD_CHECKPOINT_SIGNING_KEY")]
    pub checkpoint_signing_key: Option<PathBuf>,

    /// The seal log's origin (the first line of its checkpoints), used when the embedded
    /// default makes its checkpoint key; the key fixes it from then on.
    #[arg(long, env = "ATTACHD_SEALLOG_ORIGIN", default_value = "attachd.localhost/seallog")]
    pub seallog_origin: String,

    /// Public keys (PEM) of earlier signing keys, whose seals stay trusted after a rotation.
    #[arg(long, env = "ATTACHD_LOG_TRUSTED_KEYS", value_delimiter = ',')]
    pub log_trusted_keys: Vec<PathBuf>,

    /// Seconds between sealing rounds: an event is confirmed within about this long.
    #[arg(long, env = "ATTACHD_LOG_SEAL_INTERVAL", default_value = "1", value_parser = parse_secs)]
    pub log_seal_interval: SecsArg,

    /// Massif height (DataTrails uses 14); fixed once the log has data.
    #[arg(long, env = "ATTACHD_LOG_MASSIF_HEIGHT", default_value_t = crate::log::state::DEFAULT_MASSIF_HEIGHT)]
    pub log_massif_height: u8,

    /// Largest blob accepted, in bytes (413 above it).
    #[arg(long, env = "ATTACHD_MAX_BLOB_BYTES", default_value_t = 1 << 30)]
    pub max_blob_bytes: u64,

    /// Blobs a tenant may store, unless `attachd tenant set-quota` gave it its own figure.
    #[arg(long, env = "ATTACHD_QUOTA_MAX_BLOBS")]
    pub quota_max_blobs: Option<u64>,

    /// Bytes of blob content a tenant may store, unless set per tenant.
    #[arg(long, env = "ATTACHD_QUOTA_MAX_BYTES")]
    pub quota_max_bytes: Option<u64>,

    /// Requests per second allowed to each tenant (and to each client address on the token
    /// endpoint and public routes). Off when unset.
    #[arg(long, env = "ATTACHD_RATE_LIMIT_PER_SECOND")]
    pub rate_limit_per_second: Option<u32>,

    /// Requests allowed at once above the steady rate. Default: one second's worth.
    #[arg(long, env = "ATTACHD_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,

    /// clamd to scan uploads with: `tcp://host:port` or `unix:/path/to/clamd.sock`. Off when unset.
    #[arg(long, env = "ATTACHD_CLAMD")]
    pub clamd: Option<crate::scan::clamd::ClamdAddr>,

    /// Seconds between scan rounds.
    #[arg(long, env = "ATTACHD_SCAN_INTERVAL", default_value = "5", value_parser = parse_secs)]
    pub scan_interval: SecsArg,

    /// Largest blob sent to clamd: the smallest of its StreamMaxLength, MaxFileSize and
    /// MaxScanSize. Larger blobs stay NOT_SCANNED, with the reason in scanned_bad_reason.
    #[arg(long, env = "ATTACHD_CLAMD_MAX_BYTES", default_value_t = 25 << 20)]
    pub clamd_max_bytes: u64,

    /// HMAC secret for signing tokens (alternative to --jwt-key-file). Default on the embedded
    /// database: a random key made on first start, kept in a 0600 file beside it (never in the database).
    #[arg(long, env = "ATTACHD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// File holding the HMAC secret for signing tokens (alternative to --jwt-secret).
    #[arg(long, env = "ATTACHD_JWT_KEY_FILE", conflicts_with = "jwt_secret")]
    pub jwt_key_file: Option<PathBuf>,

    /// `iss` of issued tokens, required on every presented token.
    #[arg(long, env = "ATTACHD_JWT_ISSUER", default_value = "attachd")]
    pub jwt_issuer: String,

    /// `aud` of issued tokens, required on every presented token.
    #[arg(long, env = "ATTACHD_JWT_AUDIENCE", default_value = "attachd")]
    pub jwt_audience: String,

    /// Issuer (`iss`) of an external OpenID Connect provider whose RS256/ES256 tokens are
    /// accepted beside attachd's own.
    #[arg(long, env = "ATTACHD_OIDC_ISSUER", requires = "oidc_audience")]
    pub oidc_issuer: Option<String>,

    /// `aud` the external tokens must carry.
    #[arg(long, env = "ATTACHD_OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,

    /// URL of the external issuer's JWKS.
    #[arg(long, env = "ATTACHD_OIDC_JWKS_URL")]
    pub oidc_jwks_url: Option<String>,

    /// File holding the external issuer's JWKS (instead of a URL).
    #[arg(long, env = "ATTACHD_OIDC_JWKS_FILE", conflicts_with = "oidc_jwks_url")]
    pub oidc_jwks_file: Option<PathBuf>,

    /// Claim of external tokens naming the tenant (`tenant/<uuid>` or the uuid).
    #[arg(long, env = "ATTACHD_OIDC_TENANT_CLAIM", default_value = "tenant")]
    pub oidc_tenant_claim: String,

    /// Lifetime of issued tokens, in seconds.
    #[arg(long, env = "ATTACHD_TOKEN_TTL", default_value_t = 3600)]
    pub token_ttl: u64,

    /// Seconds a client may take to send a request's headers.
    #[arg(long, env = "ATTACHD_HEADER_READ_TIMEOUT", default_value = "30", value_parser = parse_secs)]
    pub header_read_timeout: SecsArg,

    /// Seconds a query waits for a database connection before the request is answered 503
    /// (the database is down or overloaded).
    #[arg(long, env = "ATTACHD_DATABASE_ACQUIRE_TIMEOUT", default_value = "2", value_parser = parse_secs)]
    pub database_acquire_timeout: SecsArg,

    /// Seconds an upload may go without sending a byte before it is abandoned (408). A staged
    /// upload untouched for twice this is removed by the sweeper.
    #[arg(long, env = "ATTACHD_BODY_IDLE_TIMEOUT", default_value = "60", value_parser = parse_secs)]
    pub body_idle_timeout: SecsArg,

    /// Where the dev bearer token is written on first start of an empty embedded database.
    /// Default: `bearer-token.txt` beside the SQLite file.
    #[arg(long, env = "ATTACHD_DEV_TOKEN_FILE")]
    pub dev_token_file: Option<PathBuf>,

    /// Bytes per stored content chunk of new blobs.
    #[arg(long, env = "ATTACHD_CHUNK_BYTES", default_value_t = crate::blob::DEFAULT_CHUNK_BYTES, hide = true)]
    pub chunk_bytes: usize,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where blob content is kept.
#[derive(Clone, Debug, Args)]
pub struct StoreArgs {
    /// Where blob content is kept: `database` (chunks in the metadata database), `file:///DIR`
    /// (a directory), or `s3://BUCKET[/PREFIX]` (S3 or an S3-compatible service).
    #[arg(long, env = "ATTACHD_CONTENT_STORE", default_value = "database")]
    pub content_store: crate::store::StoreUrl,

    /// The store content is being moved from (`attachd store migrate`): content not yet in
    /// `--content-store` is read from here. Unset once the migration is done.
    #[arg(long, env = "ATTACHD_CONTENT_STORE_PREVIOUS")]
    pub content_store_previous: Option<crate::store::StoreUrl>,

    /// Endpoint of an S3-compatible service (MinIO, Ceph RGW, Garage, SeaweedFS), e.g.
    /// `http://127.0.0.1:8333`; AWS S3 when unset.
    #[arg(long, env = "ATTACHD_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 region.
    #[arg(long, env = "ATTACHD_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// Allow a plain-HTTP S3 endpoint (`true`/`false`).
    #[arg(long, env = "ATTACHD_S3_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub s3_allow_http: bool,

    /// Seconds an S3 request may wait on the service: for an answer to start, for an upload
    /// part to be taken, or for the next bytes of a download the client is waiting for (a
    /// slow client's download may take as long as it needs).
    #[arg(long, env = "ATTACHD_S3_TIMEOUT", default_value = "30", value_parser = parse_secs)]
    pub s3_timeout: SecsArg,

    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,

    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<Secret>,

    #[arg(long, env = "AWS_SESSION_TOKEN", hide_env_values = true)]
    pub s3_session_token: Option<Secret>,

    /// Seconds after which stored content no blob or upload owns (left by a crash) is
    /// removed by the sweeper, which runs at start and every half of this.
    #[arg(long, env = "ATTACHD_STORE_ORPHAN_AGE", default_value = "3600", value_parser = parse_secs)]
    pub store_orphan_age: SecsArg,

    /// Free space kept on the filesystems of the SQLite database and the file store: a blob
    /// upload that would leave less is refused with 507 before it writes, so events, seals,
    /// deletes and sweeps always have room. Bytes (`64MiB`, `1GB`) or a percentage (`5%`) of
    /// each filesystem; `0` turns it off. `auto`: 5% of each filesystem, at most 1 GiB.
    #[arg(long, env = "ATTACHD_MIN_FREE_SPACE", default_value = "auto")]
    pub min_free_space: crate::store::reserve::MinFree,

    /// File of at least 32 random bytes that content chunks' MACs are keyed with (every
    /// process of one deployment uses the same). Default: derived from the log signing key.
    #[arg(long, env = "ATTACHD_CHUNK_MAC_KEY")]
    pub chunk_mac_key: Option<PathBuf>,
}

impl StoreArgs {
    /// The S3 settings besides the bucket.
    pub fn s3(&self) -> crate::store::S3Settings {
        crate::store::S3Settings {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            allow_http: self.s3_allow_http,
            timeout: self.s3_timeout.0,
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.as_ref().map(|s| s.0.clone()),
            session_token: self.s3_session_token.as_ref().map(|s| s.0.clone()),
        }
    }
}

/// A secret setting: `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

/// A whole number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecsArg(pub Duration);

impl fmt::Display for SecsArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs())
    }
}

impl From<u64> for SecsArg {
    fn from(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }
}

fn parse_secs(s: &str) -> Result<SecsArg, String> {
    let secs: u64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number of seconds"))?;
    if secs == 0 {
        return Err("must be at least 1 second".into());
    }
    Ok(SecsArg(Duration::from_secs(secs)))
}

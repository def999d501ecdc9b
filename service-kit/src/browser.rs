//! A real browser for end-to-end tests of the web console (feature `browser`): Debian's
//! chromium, headless, driven over WebDriver by chromedriver (`RTCX_CHROMIUM`,
//! `RTCX_CHROMEDRIVER`, set by deploy/dev.sh). Reads go through the page's own DOM (parts
//! re-rendered by live updates would leave stale WebDriver references), waits are bounded and
//! a failed wait panics with a screenshot and the page's markup.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use fantoccini::{Client, Locator, elements::Element};
use serde_json::{Value, json};

use crate::testing::{env, free_port};

/// How long a wait for the page lasts.
pub const WAIT: Duration = Duration::from_secs(20);

/// chromedriver and one headless chromium session; [`Browser::close`] ends both.
pub struct Browser {
    driver: Child,
    pub client: Client,
    /// Where screenshots go.
    shots: PathBuf,
}

impl Browser {
    /// A browser window of `width` × `height`; screenshots go to `shots`.
    pub async fn start(width: u32, height: u32, shots: PathBuf) -> Self {
        let port = free_port();
        let driver = Command::new(env("RTCX_CHROMEDRIVER"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": env("RTCX_CHROMIUM"),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--enable-precise-memory-info", "--js-flags=--expose-gc",
                         format!("--window-size={width},{height}"), "--lang=en-GB"],
            },
        });
        let caps = caps.as_object().expect("object").clone();
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Self { driver, client, shots },
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no WebDriver session from chromedriver: {last:?}");
    }

    pub async fn wait_for(&self, css: &str) -> Element {
        match self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(el) => el,
            Err(e) => self.fail(&format!("{css} did not appear: {e}")).await,
        }
    }

    /// The text of the first match (read in the page: parts re-rendered by live updates would
    /// leave a stale WebDriver reference).
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await;
        let v = self.js(&format!("return document.querySelector({}).innerText;", json!(css))).await;
        v.as_str().unwrap_or_default().to_owned()
    }

    pub async fn attr(&self, css: &str, name: &str) -> String {
        self.wait_for(css).await;
        let v = self.js(&format!("return document.querySelector({}).getAttribute({});", json!(css), json!(name))).await;
        v.as_str().unwrap_or_default().to_owned()
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.expect("find").len()
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.expect("script")
    }

    /// Waits until `script` (an expression) is true in the page, for at most [`WAIT`].
    pub async fn until(&self, what: &str, script: &str) {
        self.until_for(what, script, WAIT).await;
    }

    /// Waits until `script` (an expression) is true in the page, for at most `limit`.
    pub async fn until_for(&self, what: &str, script: &str, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if self.js(&format!("return Boolean({script});")).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail(&format!("{what}: not true within {limit:?}: {script}")).await
    }

    /// Ends a failed wait: a screenshot (`failure.png`), then a panic with `why`, the page's
    /// address and the start of its markup.
    async fn fail(&self, why: &str) -> ! {
        self.screenshot("failure").await;
        let page = self.js("return location.href + '\\n' + document.body.innerHTML.slice(0, 3000);").await;
        panic!("{why}\n{}", page.as_str().unwrap_or_default())
    }

    /// Writes `<shots>/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&self.shots).expect("screenshot dir");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Opens `base`/ and signs in with `email` and `password`.
    pub async fn sign_in(&self, base: &str, email: &str, password: &str) {
        self.client.goto(&format!("{base}/")).await.expect("open the console");
        let form = self.wait_for("#signin-form").await;
        assert!(
            self.client.current_url().await.expect("url").path().starts_with("/app/"),
            "/ redirects to the console"
        );
        self.wait_for("#email").await.send_keys(email).await.expect("type");
        self.wait_for("#password").await.send_keys(password).await.expect("type");
        form.find(Locator::Css("button[type=submit]")).await.expect("button").click().await.expect("submit");
        self.wait_for("#app:not([hidden]) #who").await;
    }

    /// Ends the session and chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

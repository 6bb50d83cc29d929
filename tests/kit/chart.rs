//! Rendering a boot chart in a real browser: Debian's Chromium, headless,
//! takes a screenshot of an SVG file, and the PNG is decoded so a test can
//! count the pixels of the chart's state colours. Shared by the namespace
//! tests (`ns_timeline`, through `tests/common`) and the QEMU suite (`vm`).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a screenshot may take (a cold Chromium on a loaded machine).
const RENDER_TIMEOUT: Duration = Duration::from_secs(120);

/// Debian's Chromium, or a failure that says how to get it.
pub fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!(
                "chromium is not installed: the boot chart tests render the SVG in a real \
                 browser. Install it with `make browser-deps` (apt-get install chromium)."
            )
        })
}

/// The number in `name="…"` of the SVG's root element.
pub fn svg_attr(svg: &str, name: &str) -> u32 {
    let (root, _) = svg.split_once('>').unwrap();
    let (_, value) = root.split_once(&format!(" {name}=\"")).unwrap();
    value.split_once('"').unwrap().0.parse().unwrap()
}

/// An RGB screenshot: width, height and the pixels.
pub struct Shot {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<[u8; 3]>,
}

fn decode_png(path: &Path) -> Shot {
    let file = std::io::BufReader::new(fs::File::open(path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{info:?}");
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let rgb = buf[..info.buffer_size()]
        .chunks_exact(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Shot {
        width: info.width,
        height: info.height,
        rgb,
    }
}

fn hex(colour: &str) -> [u8; 3] {
    let v = u32::from_str_radix(colour.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

impl Shot {
    /// Pixels within 8 per channel of `colour` (`#rrggbb`).
    pub fn count(&self, colour: &str) -> usize {
        let want = hex(colour);
        self.rgb
            .iter()
            .filter(|p| (0..3).all(|k| p[k].abs_diff(want[k]) <= 8))
            .count()
    }

    /// How many different colours the picture has.
    pub fn colours(&self) -> usize {
        let set: std::collections::BTreeSet<[u8; 3]> = self.rgb.iter().copied().collect();
        set.len()
    }
}

/// Screenshot `svg` (a file) at the SVG's own size into `png` with headless
/// Chromium, and decode it. Panics with Chromium's output if it fails or
/// takes longer than [`RENDER_TIMEOUT`].
pub fn render(svg: &Path, png: &Path) -> Shot {
    let browser = chromium();
    let text = fs::read_to_string(svg).unwrap();
    let (w, h) = (svg_attr(&text, "width"), svg_attr(&text, "height"));
    let profile = tempfile::tempdir().unwrap();
    let log = profile.path().join("chromium.log");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={w},{h}"))
        .arg(format!("file://{}", svg.display()))
        .env("HOME", profile.path())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log).unwrap())
        .stderr(fs::File::create(profile.path().join("chromium.err")).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > RENDER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = format!(
        "{}{}",
        fs::read_to_string(&log).unwrap_or_default(),
        fs::read_to_string(profile.path().join("chromium.err")).unwrap_or_default()
    );
    assert!(
        status.is_some_and(|s| s.success()) && png.exists(),
        "chromium failed ({status:?}) to screenshot {}:\n{output}",
        svg.display()
    );
    let shot = decode_png(png);
    assert!(
        shot.width == w && shot.height == h,
        "screenshot {}x{}, SVG {w}x{h}",
        shot.width,
        shot.height
    );
    shot
}

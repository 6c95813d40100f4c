// Drives Kiln's dashboard in headless Chromium, as a user would: signs in with a bad token and a
// good one, finds the app `dash` in the list, opens it, rolls it back to version 1, and sees the
// log line of a request made meanwhile. Prints what it saw as JSON; screenshots go to the folder
// given. Usage: node dashboard.mjs BASE_URL TOKEN SCREENSHOT_DIR CHROMIUM
import { chromium } from "playwright-core";

const [base, token, shots, executablePath] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic"],
});
const seen = {};
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  // A refused sign-in is a 401 the browser reports as a failed load: not the page's error.
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      errors.push(message.text());
    }
  });

  await page.goto(`${base}/dashboard`);
  await page.fill("#token", "not-a-token");
  await page.click("#sign-in button");
  await page.waitForFunction(() => document.getElementById("sign-in-error").textContent !== "");
  seen.refused = await page.textContent("#sign-in-error");

  await page.fill("#token", token);
  await page.click("#sign-in button");
  const row = page.locator('tr[data-app="service/dash"]');
  await row.waitFor();
  // Wait for a refresh that counts the request the test made before.
  await page.waitForFunction(() => {
    const cells = document.querySelectorAll('tr[data-app="service/dash"] td');
    return cells.length && cells[5].textContent !== "-";
  });
  seen.row = (await row.locator("td").allTextContents()).map((t) => t.trim());
  seen.chart = await page.getAttribute("#rate-chart polyline", "points");
  await page.screenshot({ path: `${shots}/dashboard-home.png`, fullPage: true });

  await row.locator("a").click();
  await page.locator('#versions button.rollback[data-version="1"]').waitFor();
  seen.config = JSON.parse(await page.textContent("#app-config"));
  await page.click('#versions button.rollback[data-version="1"]');
  await page.waitForFunction(() =>
    document.getElementById("app-message").textContent.includes("now serves version 1"));
  seen.message = await page.textContent("#app-message");
  seen.serving = await page.textContent('#versions tr[data-version="1"] button');

  await page.waitForFunction(() => document.getElementById("log-state").textContent === "(live)");
  const response = await fetch(`${base}/api/v2/dash/from-the-test`);
  seen.answer = await response.text();
  await page.waitForFunction(() =>
    document.getElementById("log").textContent.includes("visited /from-the-test"));
  seen.log = (await page.locator("#log div").allTextContents()).filter((l) => l.includes("/from-the-test"));
  await page.screenshot({ path: `${shots}/dashboard-app.png`, fullPage: true });

  await page.click("#sign-out");
  await page.locator("#sign-in-view").waitFor();
  seen.signedOut = await page.evaluate(() => sessionStorage.getItem("kiln-token"));
  seen.errors = errors;
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));

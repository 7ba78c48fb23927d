// registrar's staff console (contract section 10). It uses only the documented JSON API, with the key
// the person signs in with, so it can never do what the API would refuse. No build step, no library.

const KEY = "registrar.console.key";
const PAGE = 25;
const HISTORY_PAGE = 20;
// The role probe: PATCH of a course that cannot exist, with an empty body. The contract checks route,
// size, authentication (401), role (403), body syntax, validation and only then the resource (404),
// so an admin key gets 404, a reader key 403, a bad key 401, and nothing is ever written: the id is the
// largest the API accepts, and an empty PATCH changes nothing even on a course that had it.
const PROBE_PATH = "/courses/9223372036854775807";

const state = { key: null, admin: false };

class ApiProblem extends Error {
  constructor(problem) {
    super(problem.title);
    this.problem = problem;
  }
}

// --- DOM, without innerHTML: every value the API returns is text.

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (selector) => document.querySelector(selector);

function problemSlot() {
  return h("div", { class: "problem", role: "alert" });
}

function showProblem(slot, error) {
  slot.replaceChildren();
  if (!error) return;
  const problem = error instanceof ApiProblem
    ? error.problem
    : { title: "The request did not reach registrar", detail: String(error.message || error) };
  slot.append(h("strong", { class: "problem-title", text: problem.title || `HTTP ${problem.status}` }));
  if (problem.detail) slot.append(h("p", { class: "problem-detail", text: problem.detail }));
  for (const e of problem.errors || []) slot.append(h("p", { text: `${(e.loc || []).join(".")}: ${e.msg}` }));
  return problem;
}

// --- The API.

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.key}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { title: `HTTP ${response.status}`, detail: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiProblem({ status: response.status, ...(data || {}) });
  return data;
}

async function probeRole() {
  try {
    await api("PATCH", PROBE_PATH, {});
  } catch (error) {
    const status = error instanceof ApiProblem ? error.problem.status : 0;
    if (status === 404) return "admin";
    if (status === 403) return "reader";
    throw error;
  }
  return "admin"; // a course with that id exists and was left as it was
}

// Runs `action` for a form or button: disables it meanwhile, shows any problem in `slot`.
async function attempt(control, slot, action) {
  control.disabled = true;
  showProblem(slot, null);
  try {
    return await action();
  } catch (error) {
    showProblem(slot, error);
    return undefined;
  } finally {
    control.disabled = false;
  }
}

function onSubmit(form, action) {
  const slot = form.querySelector(".problem");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    attempt(button, slot, () => action(new FormData(form), slot));
  });
}

// --- Sign in and out.

async function signIn(key, slot) {
  state.key = key;
  let role;
  try {
    role = await probeRole();
  } catch (error) {
    state.key = null;
    throw error;
  }
  sessionStorage.setItem(KEY, key);
  enter(role);
  return role;
}

function enter(role) {
  state.admin = role === "admin";
  $("#sign-in").hidden = true;
  $("#work").hidden = false;
  $("#who").hidden = false;
  $("#role").textContent = `Signed in with ${role === "admin" ? "an" : "a"} ${role} key`;
  $("#create").hidden = !state.admin;
  if (!state.admin) $("#create").remove();
  route();
  if (!location.hash) $("#find-student-q").focus();
}

// Shows a view; the same hash again (finding the same student twice) reloads it.
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function signOut() {
  sessionStorage.removeItem(KEY);
  location.hash = "";
  location.reload();
}

// --- Finding things.

const isId = (text) => /^[1-9][0-9]{0,18}$/.test(text);

async function findStudent(query) {
  if (isId(query)) return api("GET", `/students/${query}`);
  const page = await api("GET", `/students?limit=1&email=${encodeURIComponent(query)}`);
  if (!page.items.length) throw new ApiProblem({ title: "No such student", detail: `No student has the e-mail ${query}.` });
  return page.items[0];
}

// A code may be all digits too: an id is tried first, then the code.
async function findCourse(query) {
  if (isId(query)) {
    try {
      return await api("GET", `/courses/${query}`);
    } catch (error) {
      if (!(error instanceof ApiProblem && error.problem.status === 404)) throw error;
    }
  }
  const page = await api("GET", `/courses?limit=1&code=${encodeURIComponent(query)}`);
  if (!page.items.length) throw new ApiProblem({ title: "No such course", detail: `No course has the code or id ${query}.` });
  return page.items[0];
}

// "CS101, 4 MA101" -> course ids, codes looked up one by one.
async function courseIds(text) {
  const words = text.split(/[\s,;]+/).filter(Boolean);
  const ids = [];
  for (const word of words) ids.push(isId(word) ? Number(word) : (await findCourse(word)).id);
  return ids;
}

// --- Views, one per hash: #/students/7 and #/courses/3.

function route() {
  const match = /^#\/(students|courses)\/([1-9][0-9]*)$/.exec(location.hash);
  const view = $("#view");
  if (!match) {
    view.replaceChildren(h("p", { class: "note", text: "Find a student or a course to begin." }));
    return;
  }
  const [, kind, id] = match;
  const slot = problemSlot();
  view.replaceChildren(h("p", { class: "note", text: "Loading…" }), slot);
  const load = kind === "students" ? studentView : courseView;
  load(id).then(
    (content) => {
      view.replaceChildren(content);
      content.querySelector("h2")?.focus();
    },
    (error) => {
      view.replaceChildren(slot);
      showProblem(slot, error);
    },
  );
}

const when = (stamp) => (stamp ? stamp.replace("T", " ").replace(/\.\d+Z$/, "Z") : "");

function table(caption, headings, rows) {
  const label = `${caption} table`;
  return h("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": label },
    h("table", {},
      h("caption", { class: "visually-hidden", text: caption }),  // the section heading shows it
      h("thead", {}, h("tr", {}, headings.map((text) => h("th", { scope: "col", text })))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headings.length, class: "note", text: "None" }))),
    ));
}

const studentLink = (entry) =>
  entry.name === null ? `#${entry.id} (deleted)` : h("a", { href: `#/students/${entry.id}`, text: entry.name });
const courseLink = (entry, id = entry.id) =>
  entry.code === null ? `#${id} (deleted)` : h("a", { href: `#/courses/${id}`, text: entry.code });

// A table that pages with `next_after`: "Earlier"/"Next" keep a stack of the pages' starts.
function pagedTable(caption, headings, fetchPage, toRow) {
  const holder = h("div", { class: "paged" });
  const starts = [0];
  const slot = problemSlot();
  async function show(after) {
    const page = await fetchPage(after);
    const previous = h("button", { type: "button", class: "quiet", text: "Previous page", disabled: starts.length < 2 });
    const next = h("button", { type: "button", class: "quiet", text: "Next page", disabled: page.next_after === null });
    previous.addEventListener("click", () => attempt(previous, slot, async () => {
      starts.pop();
      await show(starts[starts.length - 1]);
    }));
    next.addEventListener("click", () => attempt(next, slot, async () => {
      starts.push(page.next_after);
      await show(page.next_after);
    }));
    holder.replaceChildren(table(caption, headings, page.items.map(toRow)), h("div", { class: "pager" }, previous, next), slot);
  }
  return { holder, ready: show(0) };
}

function historyTable(caption, fetchPage) {
  const row = (e) => h("tr", {}, h("td", { text: when(e.at) }), h("td", {}, h("a", { href: `#/students/${e.student_id}`, text: `student ${e.student_id}` })),
    h("td", {}, h("a", { href: `#/courses/${e.course_id}`, text: `course ${e.course_id}` })), h("td", { text: e.change }), h("td", { text: e.cause }));
  return pagedTable(caption, ["At (UTC)", "Student", "Course", "Change", "Cause"], fetchPage, row);
}

// A button that does one write, then reloads the view; its problem goes next to it.
function writeButton(text, label, action) {
  const slot = problemSlot();
  const button = h("button", { type: "button", class: "quiet", "data-write": true, "aria-label": label, text });
  button.addEventListener("click", () => attempt(button, slot, async () => {
    await action();
    route();
  }));
  return [button, slot];
}

function writeForm(id, labelText, buttonText, action, required = true) {
  const form = h("form", { id, class: "row", "data-write": true },
    h("label", { for: `${id}-input`, text: labelText }),
    h("input", { id: `${id}-input`, name: "q", required, autocomplete: "off" }),
    h("button", { type: "submit", text: buttonText }),
    problemSlot());
  onSubmit(form, async (data, slot) => {
    const done = await action(String(data.get("q")).trim(), slot);
    if (done !== false) route();
  });
  return form;
}

async function studentView(id) {
  const [student, waitlist] = await Promise.all([api("GET", `/students/${id}`), api("GET", `/students/${id}/waitlist`)]);
  const courseRows = student.courses.map((c) => h("tr", {},
    h("td", {}, courseLink(c)), h("td", { text: c.title }), h("td", { text: when(c.enrolled_at) }),
    state.admin ? h("td", {}, writeButton("Drop", `Drop ${c.code}`, () => api("DELETE", `/students/${id}/courses/${c.id}`))) : null));
  const waitRows = waitlist.map((w) => h("tr", {},
    h("td", {}, courseLink(w, w.course_id)), h("td", { text: w.title }), h("td", { class: "position", text: w.position }), h("td", { text: when(w.joined_at) }),
    state.admin ? h("td", {}, writeButton("Leave", `Leave the waitlist of ${w.code}`, () => api("DELETE", `/students/${id}/waitlist/${w.course_id}`))) : null));
  const actions = state.admin ? ["Actions"] : [];
  const history = historyTable("History", (after) => api("GET", `/students/${id}/history?limit=${HISTORY_PAGE}&after=${after}`));
  await history.ready;
  return h("article", { "aria-labelledby": "subject" },
    h("h2", { id: "subject", tabindex: -1, text: student.name }),
    h("dl", { class: "facts" }, h("dt", { text: "Id" }), h("dd", { text: student.id }), h("dt", { text: "E-mail" }), h("dd", { text: student.email })),
    h("div", { class: "columns" },
      h("section", {}, h("h3", { text: "Courses" }),
        table("Enrolled courses", ["Code", "Title", "Enrolled at (UTC)", ...actions], courseRows),
        state.admin && enrollForms(id)),
      h("section", {}, h("h3", { text: "Waitlists" }),
        table("Waitlists", ["Code", "Title", "Position", "Joined at (UTC)", ...actions], waitRows),
        state.admin && writeForm("join-waitlist", "Join the waitlist of a course (code or id)", "Join waitlist",
          async (query) => api("POST", `/students/${id}/waitlist`, { course_id: (await courseIds(query))[0] })))),
    h("section", {}, h("h3", { text: "History" }), history.holder));
}

function enrollForms(id) {
  const enroll = writeForm("enroll", "Enroll in courses (codes or ids, separated by commas)", "Enroll", async (query, slot) => {
    try {
      await api("POST", `/students/${id}/courses`, { course_ids: await courseIds(query) });
    } catch (error) {
      const problem = showProblem(slot, error);
      for (const courseId of problem?.waitlist_open_course_ids || []) {
        slot.append(h("p", {}, ...writeButton(`Join the waitlist of course ${courseId}`, null,
          () => api("POST", `/students/${id}/waitlist`, { course_id: courseId }))));
      }
      return false;
    }
  });
  const replace = writeForm("replace", "Replace all courses with (codes or ids; empty: none)", "Replace",
    async (query) => api("PUT", `/students/${id}/courses`, { course_ids: await courseIds(query) }), false);
  return [enroll, replace];
}

function seats(course) {
  const enrolled = course.capacity === null
    ? h("span", { class: "count", text: `${course.enrolled} enrolled, no limit` })
    : [h("meter", { id: "seats-meter", min: 0, max: Math.max(course.capacity, 1), value: course.enrolled, "aria-label": "Seats taken" }),
      h("span", { class: "count", text: `${course.enrolled} of ${course.capacity} enrolled` })];
  const waiting = course.waitlist_capacity === 0
    ? h("span", { class: "count", text: "no waitlist" })
    : [h("meter", { id: "waitlist-meter", min: 0, max: course.waitlist_capacity, value: course.waitlisted, "aria-label": "Waitlist places taken" }),
      h("span", { class: "count", text: `${course.waitlisted} of ${course.waitlist_capacity} waiting` })];
  return h("div", { class: "seats", id: "seats" },
    h("span", { text: "Seats" }), course.capacity === null ? h("span") : null, enrolled,
    h("span", { text: "Waitlist" }), course.waitlist_capacity === 0 ? h("span") : null, waiting);
}

async function courseView(id) {
  const [course, waitlist] = await Promise.all([api("GET", `/courses/${id}`), api("GET", `/courses/${id}/waitlist`)]);
  const rosterRow = (s) => h("tr", {}, h("td", { text: s.id }), h("td", {}, studentLink(s)), h("td", { text: s.email ?? "" }), h("td", { text: when(s.enrolled_at) }));
  const roster = pagedTable("Roster", ["Id", "Name", "E-mail", "Enrolled at (UTC)"],
    (after) => api("GET", `/courses/${id}/students?limit=${PAGE}&after=${after}`), rosterRow);
  const history = historyTable("History", (after) => api("GET", `/courses/${id}/history?limit=${HISTORY_PAGE}&after=${after}`));
  await Promise.all([roster.ready, history.ready]);
  const waitRows = waitlist.map((w) => h("tr", {}, h("td", { class: "position", text: w.position }), h("td", {}, studentLink(w)), h("td", { text: w.email }), h("td", { text: when(w.joined_at) })));
  return h("article", { "aria-labelledby": "subject" },
    h("h2", { id: "subject", tabindex: -1, text: `${course.code}: ${course.title}` }),
    h("dl", { class: "facts" }, h("dt", { text: "Id" }), h("dd", { text: course.id })),
    seats(course),
    h("div", { class: "columns" },
      h("section", {}, h("h3", { text: "Roster" }), roster.holder),
      h("section", {}, h("h3", { text: "Waitlist" }), table("Waitlist, in order", ["Position", "Name", "E-mail", "Joined at (UTC)"], waitRows))),
    asOfSection(id, rosterRow),
    h("section", {}, h("h3", { text: "History" }), history.holder));
}

// The roster at an instant. The field is read in the browser's time zone and sent in UTC.
function asOfSection(id, rosterRow) {
  const result = h("div", { id: "as-of-result" });
  const form = h("form", { id: "as-of", class: "row" },
    h("label", { for: "as-of-input", text: "Roster as of (your local time)" }),
    h("input", { id: "as-of-input", name: "at", type: "datetime-local", step: 1, required: true }),
    h("button", { type: "submit", text: "Show roster" }),
    problemSlot());
  onSubmit(form, async (data) => {
    const local = new Date(String(data.get("at")));
    if (Number.isNaN(local.getTime())) throw new ApiProblem({ title: "Not a date", detail: "Give a date and a time." });
    const at = local.toISOString();
    const paged = pagedTable(`Roster as of ${when(at)}`, ["Id", "Name", "E-mail", "Enrolled at (UTC)"],
      (after) => api("GET", `/courses/${id}/students?limit=${PAGE}&after=${after}&as_of=${encodeURIComponent(at)}`), rosterRow);
    await paged.ready;
    result.replaceChildren(h("p", { class: "note", text: `As of ${when(at)}:` }), paged.holder);
  });
  return h("section", {}, h("h3", { text: "Roster as of a date" }), form, result);
}

// --- Start.

function wireTools() {
  onSubmit($("#sign-in-form"), async (data) => signIn(String(data.get("key")).trim()));
  $("#sign-out").addEventListener("click", signOut);
  onSubmit($("#find-student"), async (data) => {
    go(`#/students/${(await findStudent(String(data.get("q")).trim())).id}`);
  });
  onSubmit($("#find-course"), async (data) => {
    go(`#/courses/${(await findCourse(String(data.get("q")).trim())).id}`);
  });
  onSubmit($("#create-student"), async (data) => {
    const student = await api("POST", "/students", { name: data.get("name"), email: data.get("email") });
    $("#create-student").reset();
    go(`#/students/${student.id}`);
  });
  onSubmit($("#create-course"), async (data) => {
    const capacity = String(data.get("capacity")).trim();
    const waitlist = String(data.get("waitlist_capacity")).trim();
    const course = await api("POST", "/courses", {
      code: data.get("code"),
      title: data.get("title"),
      capacity: capacity === "" ? null : Number(capacity),
      waitlist_capacity: waitlist === "" ? 0 : Number(waitlist),
    });
    $("#create-course").reset();
    go(`#/courses/${course.id}`);
  });
  window.addEventListener("hashchange", route);
}

async function start() {
  wireTools();
  const key = sessionStorage.getItem(KEY);
  if (key) {
    const slot = $("#sign-in-form .problem");
    state.key = key;
    try {
      enter(await probeRole());
      return;
    } catch (error) {
      sessionStorage.removeItem(KEY);
      state.key = null;
      showProblem(slot, error);
    }
  }
  $("#sign-in").hidden = false;
  $("#key").focus();
}

start();

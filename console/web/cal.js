/* console/web/cal.js: the business calendar pages of the console — the list,
 * one calendar as a month grid (weekends, holidays, make-up workdays) with
 * its JSON editor for admins — and the job preview that shows what a job's
 * calendar skips and why, on /api/v1/calendars and /api/v1/jobs/{job}/preview.
 *
 * Loaded before app.js and uses its helpers (h, api, render, guard, flash,
 * panel, table, nodata, can) when its pages run. Text from the server goes
 * into the page as text nodes only. */
'use strict';

const CAL_DOW = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const CAL_MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
  'September', 'October', 'November', 'December'];

/* calDayKind: what YYYY-MM-DD is in calendar c (as the server's core/calendar.c
 * says: a listed holiday, a make-up workday, a weekend day, or a workday). */
function calDayKind(c, date, dow) {
  if (c.holidays.includes(date)) return 'holiday';
  if (c.workdays.includes(date)) return 'makeup';
  return c.weekend.includes(CAL_DOW[dow]) ? 'weekend' : 'workday';
}

/* calMonth: one month as a table of weeks, Sunday first; each day cell's
 * class says its kind (legend in app.css: .cal-holiday, .cal-makeup...). */
function calMonth(c, year, month) {
  const first = new Date(Date.UTC(year, month, 1));
  const days = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const cells = [];
  for (let i = 0; i < first.getUTCDay(); i++) cells.push(h('td', { class: 'cal-empty' }));
  for (let d = 1; d <= days; d++) {
    const date = year + '-' + String(month + 1).padStart(2, '0') + '-' + String(d).padStart(2, '0');
    const kind = calDayKind(c, date, (first.getUTCDay() + d - 1) % 7);
    cells.push(h('td', { class: 'cal-day cal-' + kind, 'data-date': date, title: date + ': ' + kind }, String(d)));
  }
  while (cells.length % 7) cells.push(h('td', { class: 'cal-empty' }));
  const weeks = [];
  for (let i = 0; i < cells.length; i += 7) weeks.push(h('tr', {}, cells.slice(i, i + 7)));
  return h('table', { class: 'cal-month' },
    h('caption', {}, CAL_MONTHS[month] + ' ' + year),
    h('thead', {}, h('tr', {}, CAL_DOW.map((d) => h('th', {}, d.slice(0, 2))))),
    h('tbody', {}, weeks));
}

async function pageCalendars() {
  const render = guard();
  const cals = await api('GET', '/calendars');
  render(h('h1', {}, 'Calendars'),
    h('p', { class: 'muted' }, 'Jobs and workflows that name a calendar fire only on its workdays (or holidays); a fire on another day is dropped, or moved to the next/previous included day.'),
    can('admin') ? h('div', { class: 'toolbar' }, h('button', { id: 'newcal', onclick: () => { location.hash = '#/calendars/new'; } }, 'New calendar')) : null,
    nodata(cals, table([['Name', (c) => c.name], ['Time zone', (c) => c.timezone], ['Weekend', (c) => c.weekend.join(' ')],
      ['Holidays', (c) => c.holidays.length], ['Make-up workdays', (c) => c.workdays.length]], cals,
    (c) => { location.hash = '#/calendars/' + encodeURIComponent(c.name); })));
}

/* pageCalendar: twelve months around `ym` ("YYYY"; default this year), the
 * JSON, and for admins an editor (PUT) and delete. name "new": the editor only. */
async function pageCalendar(name, ym) {
  const render = guard();
  const isNew = name === 'new';
  const c = isNew ? { name: '', timezone: 'UTC', weekend: ['SAT', 'SUN'], holidays: [], workdays: [] }
    : await api('GET', '/calendars/' + encodeURIComponent(name));
  const year = Number(ym) || new Date().getUTCFullYear();
  const months = h('div', { class: 'cal-year', id: 'calyear' });
  for (let m = 0; m < 12; m++) months.append(calMonth(c, year, m));
  const enc = encodeURIComponent(name);
  const editor = h('textarea', { id: 'caljson', rows: 12, cols: 80 }, JSON.stringify(c, null, 2));
  const save = async () => {
    let body;
    try { body = JSON.parse(editor.value); } catch (e) { flash('Not valid JSON: ' + e.message, true); return; }
    const nm = isNew ? body.name : name;
    try {
      await api('PUT', '/calendars/' + encodeURIComponent(nm || ''), body);
      flash('Saved ' + nm);
      location.hash = '#/calendars/' + encodeURIComponent(nm);
      if (!isNew) route();
    } catch (e) { flash('Save failed: ' + (e.body.field ? e.body.field + ': ' : '') + e.message, true); }
  };
  render(h('h1', {}, isNew ? 'New calendar' : 'Calendar ' + name),
    isNew ? null : h('div', { class: 'toolbar' },
      h('a', { href: '#/calendars/' + enc + '/' + (year - 1), id: 'calprev' }, '← ' + (year - 1)), ' ',
      h('a', { href: '#/calendars/' + enc + '/' + (year + 1), id: 'calnext' }, (year + 1) + ' →'),
      can('admin') ? h('button', { class: 'danger', id: 'caldelete', onclick: () => {
        if (!confirm('Delete calendar ' + name + '?')) return;
        api('DELETE', '/calendars/' + enc).then(() => { flash('Deleted ' + name); location.hash = '#/calendars'; })
          .catch((e) => flash('Delete failed: ' + e.message, true));
      } }, 'Delete') : null),
    isNew ? null : h('p', { class: 'muted' }, 'Time zone ', c.timezone, ' · ',
      h('span', { class: 'cal-day cal-weekend' }, 'weekend'), ' ', h('span', { class: 'cal-day cal-holiday' }, 'holiday'), ' ',
      h('span', { class: 'cal-day cal-makeup' }, 'make-up workday'), ' ', h('span', { class: 'cal-day cal-workday' }, 'workday')),
    isNew ? null : months,
    can('admin') ? panel(isNew ? 'Definition' : 'Edit (JSON)', h('div', {}, editor, h('div', {}, h('button', { id: 'calsave', onclick: save }, 'Save'))))
      : panel('Definition (JSON)', h('pre', { id: 'caljson' }, JSON.stringify(c, null, 2))));
}

/* jobPreviewInto: the job's next fires as its agents compute them (its
 * calendar applied), and the fires the calendar skips with the reasons. */
async function jobPreviewInto(box, name, n) {
  try {
    const p = await api('GET', '/jobs/' + encodeURIComponent(name) + '/preview?' + qs({ n: n || 10 }));
    box.replaceChildren(h('div', { class: 'ok' }, '✓ zone ' + p.timezone +
      (p.calendar ? ' · calendar ' + p.calendar + ' (' + p.calendar_rule + ', shift ' + p.calendar_shift + ')' : '')),
    h('ol', { class: 'nexttimes' }, p.next.map((t, i) => h('li', {}, t + ' ' + p.next_offset[i]))),
    p.skipped && p.skipped.length ? h('div', { id: 'jobskipped' }, h('h3', {}, 'Skipped by the calendar'),
      h('ul', { class: 'skipped' }, p.skipped.map((s) => h('li', {}, s.time + ' — ' + s.reason))),
      p.skipped_more ? h('div', { class: 'muted' }, 'and more') : null) : null);
  } catch (e) {
    box.replaceChildren(h('div', { class: 'bad' }, '✗ ' + e.message));
  }
}

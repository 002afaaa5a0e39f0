// The dashboard's pages: plain JavaScript over the data files that dashboard/build.py writes
// from the serving copy (data/accounts.js, data/<account>.js). No network, no dependencies.
(function () {
  'use strict';

  var META = window.CLV_META || { accounts: [] };
  var PAGES = META.pages || [];  // [file, navigation label], from dashboard/build.py
  var BAND_LABELS = {
    frequency_band: 'Orders so far',
    spend_band: 'Spend so far vs account average',
    predicted_spend_band: 'Predicted spend vs account average',
    predicted_aov_band: 'Expected order value vs account average',
    order_likelihood_band: 'Order likelihood',
    spend_tier: 'Spend tier',
    churn_band: 'Churn',
    purchase_probability_band: 'Buy now (purchase probability)'
  };
  var RELATIVE = ['Well below average', 'Below average', 'Average', 'Above average', 'Well above average'];
  var PROBABILITY = ['Small', 'Medium', 'High', 'Very high'];
  var LEVEL_ORDER = {
    frequency_band: ['1 order', '2 orders', '3-4 orders', '5+ orders'],
    spend_band: RELATIVE, predicted_spend_band: RELATIVE, predicted_aov_band: RELATIVE,
    order_likelihood_band: ['Unlikely to order', 'Likely to order', 'Likely to order multiple times'],
    spend_tier: ['Low', 'Medium', 'High'],
    churn_band: PROBABILITY, purchase_probability_band: PROBABILITY
  };
  var PURCHASE_ROWS = ['Very high', 'High', 'Medium', 'Small'];
  var CHURN_COLS = ['Small', 'Medium', 'High', 'Very high'];

  var page = document.body.getAttribute('data-page');
  var params = new URLSearchParams(window.location.search);
  var cache = {};
  var current = null;

  // ---------- formatting ----------
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function num(v, digits) {
    if (v === null || v === undefined || v === '' || isNaN(Number(v))) return '–';
    var d = digits === undefined ? 2 : digits;
    return Number(v).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  }
  function pct(v, digits) {
    if (v === null || v === undefined || isNaN(Number(v))) return '–';
    return num(Number(v) * 100, digits === undefined ? 1 : digits) + '%';
  }
  function interval(lo, hi, digits) {
    if (lo == null || hi == null) return '';
    return '<span class="interval">90%: <span data-testid="p05">' + num(lo, digits) +
      '</span> – <span data-testid="p95">' + num(hi, digits) + '</span></span>';
  }
  function t(id, text) { return '<span data-testid="' + esc(id) + '">' + text + '</span>'; }
  function bar(share) {
    var w = Math.max(0, Math.min(100, Number(share || 0) * 100));
    return '<div class="bar"><div style="width:' + w.toFixed(1) + '%"></div></div>';
  }
  function levelRank(band, level) {
    var i = (LEVEL_ORDER[band] || []).indexOf(level);
    return i < 0 ? 999 : i;
  }
  function card(label, valueHtml, note, testid) {
    return '<div class="card" data-testid="' + esc(testid) + '"><div class="label">' + esc(label) +
      '</div><div class="value">' + valueHtml + '</div>' + (note ? '<div class="note">' + note + '</div>' : '') + '</div>';
  }
  function segmentLabel(d, name) {
    for (var i = 0; i < d.segments.length; i++) if (d.segments[i].segment === name) return d.segments[i].label;
    return name;
  }

  // ---------- pages ----------
  function overview(d) {
    var s = d.summary;
    if (!s) return '<p>No summary for this account.</p>';
    var cur = esc(s.currency || '');
    var h = '<p class="lede">As of <b data-testid="as-of">' + esc(s.as_of) + '</b>, predictions over the next <b>' +
      esc(s.horizon_days) + '</b> days; amounts in <b data-testid="currency">' + cur + '</b>. Purchase model: <b>' +
      esc(s.served_model || 'none') + '</b>' + (s.served_model_reason ? ' (' + esc(s.served_model_reason) + ')' : '') + '.</p>';
    h += '<div class="cards">';
    h += card('Customers', t('customers', num(s.customers, 0)), 'repeat buyers: ' + t('repeat-buyer-share', pct(s.repeat_buyer_share)), 'card-customers');
    h += card('Predicted revenue (' + s.horizon_days + ' days)', t('predicted-revenue', num(s.predicted_revenue)) + ' <small>' + cur + '</small>',
      interval(s.predicted_revenue_p05, s.predicted_revenue_p95), 'card-revenue');
    h += card('Predicted orders', t('predicted-orders', num(s.predicted_orders, 1)),
      interval(s.predicted_orders_p05, s.predicted_orders_p95, 1), 'card-orders');
    h += card('Average predicted spend per customer', t('avg-predicted-spend', num(s.avg_predicted_spend)) + ' <small>' + cur + '</small>',
      'average order value so far: ' + t('avg-order-value', num(s.avg_order_value)), 'card-avg');
    h += '</div>';
    if (s.model_status) h += '<p class="note">Model status: ' + esc(s.model_status) + '</p>';
    h += '<h2>Band distributions</h2><div class="bands">';
    var byBand = {};
    d.bands.forEach(function (r) { (byBand[r.band] = byBand[r.band] || []).push(r); });
    Object.keys(BAND_LABELS).forEach(function (band) {
      var rows = (byBand[band] || []).slice().sort(function (a, b) { return levelRank(band, a.level) - levelRank(band, b.level); });
      h += '<section class="band" data-band="' + esc(band) + '"><h3>' + esc(BAND_LABELS[band]) + ' <code>' + esc(band) + '</code></h3>';
      if (!rows.length) { h += '<p class="note">No levels (no predictions for this account).</p></section>'; return; }
      h += '<table><thead><tr><th>level</th><th class="r">customers</th><th class="r">share</th><th></th></tr></thead><tbody>';
      rows.forEach(function (r) {
        h += '<tr data-level="' + esc(r.level) + '"><td>' + esc(r.level) + '</td><td class="r" data-col="customers">' + num(r.customers, 0) +
          '</td><td class="r" data-col="share">' + pct(r.share_of_customers) + '</td><td class="w">' + bar(r.share_of_customers) + '</td></tr>';
      });
      h += '</tbody></table></section>';
    });
    return h + '</div>';
  }

  function segments(d) {
    var lift = {};
    (d.lift || []).forEach(function (r) { lift[r.segment] = r; });
    var h = '<p class="lede">Ready-made target lists (a customer can be in several). Lift: how the segment\'s members did in the latest holdout backtest against their comparison group (order rate and spend, with 90% bootstrap intervals).</p>';
    if (d.lift === null) h += '<p class="note" data-testid="lift-missing">No holdout backtest in this serving copy (models.evaluation_segments): lift is shown once the evaluation job has run.</p>';
    else if (!d.lift.length) h += '<p class="note" data-testid="lift-missing">This account has not been backtested yet: no lift.</p>';
    else h += '<p class="note" data-testid="lift-from">Lift from the backtest with segments built as of ' + esc(d.lift[0].cutoff) +
      ' and scored over the next ' + esc(d.lift[0].holdout_days) + ' days (purchase model fitted up to that day).</p>';
    h += '<table class="segments"><thead><tr><th>segment</th><th class="r">customers</th><th class="r">share</th><th class="r">avg predicted spend</th>' +
      '<th class="r">order-rate lift</th><th class="r">spend lift</th><th>what it means</th></tr></thead><tbody>';
    d.segments.forEach(function (r) {
      var l = lift[r.segment];
      h += '<tr data-segment="' + esc(r.segment) + '"><td><b>' + esc(r.label) + '</b><br><code>' + esc(r.segment) + '</code></td>' +
        '<td class="r" data-col="customers">' + num(r.customers, 0) + '</td>' +
        '<td class="r" data-col="share">' + pct(r.share_of_customers) + bar(r.share_of_customers) + '</td>' +
        '<td class="r" data-col="avg_predicted_spend">' + num(r.avg_predicted_spend) + '</td>' +
        '<td class="r" data-col="order_rate_lift">' + (l ? num(l.order_rate_lift) + '<br>' + interval(l.order_rate_lift_p05, l.order_rate_lift_p95) : '–') + '</td>' +
        '<td class="r" data-col="spend_lift">' + (l ? num(l.spend_lift) + '<br>' + interval(l.spend_lift_p05, l.spend_lift_p95) : '–') + '</td>' +
        '<td class="desc">' + esc(r.description) + '</td></tr>';
    });
    h += '</tbody></table>';
    if (!d.segments.length) h += '<p class="note">No segment has members for this account.</p>';
    return h;
  }

  function heatmap(d) {
    var cells = {}, other = [], max = 0;
    d.grid.forEach(function (r) {
      var m = /^purchase (.+) \/ churn (.+)$/.exec(r.cell || '');
      if (m) { cells[m[1] + '|' + m[2]] = r; max = Math.max(max, r.share_of_customers || 0); } else other.push(r);
    });
    var h = '<p class="lede">Customers by chance to buy now (rows: purchase probability band, relative to the account) and chance of no order in the churn horizon (columns: churn band). Each cell: customers, share of the account, average predicted spend.</p>';
    h += '<table class="heatmap" data-testid="heatmap"><thead><tr><th>purchase ↓ / churn →</th>';
    CHURN_COLS.forEach(function (c) { h += '<th>' + esc(c) + '</th>'; });
    h += '</tr></thead><tbody>';
    PURCHASE_ROWS.forEach(function (p) {
      h += '<tr><th>' + esc(p) + '</th>';
      CHURN_COLS.forEach(function (c) {
        var r = cells[p + '|' + c];
        var a = r && max ? (0.12 + 0.88 * (r.share_of_customers / max)) : 0;
        var style = 'background: rgba(37, 99, 235,' + a.toFixed(3) + ');' + (a > 0.55 ? 'color:#fff;' : '');
        h += '<td style="' + style + '" data-cell="purchase ' + esc(p) + ' / churn ' + esc(c) + '">' +
          (r ? '<div class="big" data-col="customers">' + num(r.customers, 0) + '</div><div data-col="share">' + pct(r.share_of_customers) +
            '</div><div class="small" data-col="avg_predicted_spend">' + num(r.avg_predicted_spend) + '</div>' : '<div class="big" data-col="customers">0</div>') + '</td>';
      });
      h += '</tr>';
    });
    h += '</tbody></table>';
    if (!d.grid.length) h += '<p class="note">No grid for this account (no predictions).</p>';
    if (other.length) {
      h += '<h2>Other cells</h2><table><tbody>';
      other.forEach(function (r) { h += '<tr data-cell="' + esc(r.cell) + '"><td>' + esc(r.cell) + '</td><td class="r" data-col="customers">' + num(r.customers, 0) + '</td></tr>'; });
      h += '</tbody></table>';
    }
    return h;
  }

  function channels(d) {
    var bySeg = {}, order = [];
    d.channels.forEach(function (r) {
      if (!bySeg[r.segment]) { bySeg[r.segment] = []; order.push(r.segment); }
      bySeg[r.segment].push(r);
    });
    var h = '<p class="lede">For each segment, the channel most of its members are most likely to order through next (each customer\'s best channel: own history shrunk toward the account mix).</p>';
    h += '<table class="channels"><thead><tr><th>segment</th><th>best channel</th><th class="r">members with it</th><th class="r">share of members</th><th class="r">avg probability</th><th>all channels</th></tr></thead><tbody>';
    order.forEach(function (seg) {
      var rows = bySeg[seg], top = rows[0];
      h += '<tr data-segment="' + esc(seg) + '"><td><b>' + esc(segmentLabel(d, seg)) + '</b><br><code>' + esc(seg) + '</code></td>' +
        '<td data-col="best_channel"><b>' + esc(top.channel) + '</b></td>' +
        '<td class="r" data-col="customers">' + num(top.customers, 0) + '</td>' +
        '<td class="r" data-col="share">' + pct(top.share_of_segment) + '</td>' +
        '<td class="r" data-col="probability">' + pct(top.avg_best_channel_probability) + '</td><td class="small">' +
        rows.map(function (r) { return esc(r.channel) + ' ' + num(r.customers, 0); }).join(' · ') + '</td></tr>';
    });
    h += '</tbody></table>';
    if (!order.length) h += '<p class="note">No segment members for this account.</p>';
    h += '<h2>Channel mix of the account</h2><table><thead><tr><th>channel</th><th class="r">orders</th><th class="r">share</th><th></th></tr></thead><tbody>';
    d.account_channels.forEach(function (r) {
      h += '<tr data-channel="' + esc(r.channel) + '"><td>' + esc(r.channel) + '</td><td class="r" data-col="orders">' + num(r.orders, 0) +
        '</td><td class="r" data-col="share">' + pct(r.share) + '</td><td class="w">' + bar(r.share) + '</td></tr>';
    });
    return h + '</tbody></table>';
  }

  function customer(d) {
    var ids = d.customers.map(function (c) { return c.customer_id; });
    var wanted = params.get('customer');
    var c = null;
    for (var i = 0; i < d.customers.length; i++) if (d.customers[i].customer_id === wanted) c = d.customers[i];
    if (!c && d.customers.length) {
      c = d.customers.slice().sort(function (a, b) { return (b.predicted_spend || 0) - (a.predicted_spend || 0); })[0];
    }
    var h = '<form id="lookup" class="lookup"><label>Customer id <input id="customer-id" data-testid="customer-input" list="customer-ids" value="' +
      esc(c ? c.customer_id : '') + '" autocomplete="off"></label> <button type="submit">Show</button>' +
      ' <span class="note">' + num(ids.length, 0) + ' customers</span><datalist id="customer-ids">' +
      ids.map(function (x) { return '<option value="' + esc(x) + '">'; }).join('') + '</datalist></form>';
    if (wanted && (!c || c.customer_id !== wanted)) h += '<p class="warn" data-testid="customer-missing">No customer ' + esc(wanted) + ' in this account.</p>';
    if (!c) return h + '<p>No customers.</p>';
    var cur = esc(d.summary ? d.summary.currency : '');
    h += '<h2 data-testid="customer-id">' + esc(c.customer_id) + '</h2>';
    h += '<div class="cards">' +
      card('Orders so far', t('order-count', num(c.order_count, 0)), esc(c.first_order_date) + ' → ' + esc(c.last_order_date), 'card-orders') +
      card('Spend so far', t('total-spend', num(c.total_spend)) + ' <small>' + cur + '</small>', 'avg order ' + num(c.historical_aov), 'card-spend') +
      card('Predicted spend', t('predicted-spend', num(c.predicted_spend)) + ' <small>' + cur + '</small>', interval(c.predicted_spend_p05, c.predicted_spend_p95), 'card-predicted') +
      card('Best channel', t('best-channel', esc(c.best_channel || '–')), 'probability ' + pct(c.best_channel_probability), 'card-channel') +
      '</div>';
    var metrics = [
      ['p_alive', 'Still a customer (P alive)', true], ['expected_orders', 'Expected orders', false],
      ['p_order', 'P(at least one order)', true], ['purchase_probability', 'Buy now (purchase probability)', true],
      ['churn_probability', 'Churn probability', true], ['expected_aov', 'Expected order value', false],
      ['predicted_spend', 'Predicted spend', false]
    ];
    h += '<h2>Predictions</h2><table class="metrics"><thead><tr><th>figure</th><th class="r">mean</th><th class="r">90% low</th><th class="r">90% high</th></tr></thead><tbody>';
    metrics.forEach(function (m) {
      var f = m[2] ? function (v) { return num(v, 3); } : function (v) { return num(v); };
      h += '<tr data-metric="' + m[0] + '"><td>' + esc(m[1]) + ' <code>' + m[0] + '</code></td><td class="r" data-col="mean">' + f(c[m[0]]) +
        '</td><td class="r" data-col="p05">' + f(c[m[0] + '_p05']) + '</td><td class="r" data-col="p95">' + f(c[m[0] + '_p95']) + '</td></tr>';
    });
    h += '<tr><td>Expected next order by</td><td class="r" colspan="3" data-testid="next-order">' + esc(c.expected_next_order_date || 'not within the horizon') + '</td></tr>';
    h += '</tbody></table>';
    var bands = ['frequency_band', 'spend_band', 'predicted_spend_band', 'predicted_aov_band', 'order_likelihood_band', 'spend_tier', 'churn_band', 'purchase_probability_band'];
    h += '<h2>Bands</h2><table class="bandsc"><thead><tr><th>band</th><th>level</th><th class="r">confidence</th></tr></thead><tbody>';
    bands.forEach(function (b) {
      var conf = c[b + '_confidence'];
      h += '<tr data-band="' + b + '"><td>' + esc(BAND_LABELS[b]) + '</td><td data-col="level">' + esc(c[b] || '–') +
        '</td><td class="r" data-col="confidence">' + (conf === undefined ? '(observed)' : pct(conf)) + '</td></tr>';
    });
    h += '</tbody></table>';
    h += '<h2>Segments</h2>' + (c.segments.length ? '<ul data-testid="customer-segments">' + c.segments.map(function (s) {
      var cut = s.indexOf(' ('), name = cut < 0 ? s : s.slice(0, cut), cell = cut < 0 ? '' : s.slice(cut);
      var label = name === 'purchase_churn_grid' ? 'Purchase × churn grid' : segmentLabel(d, name);
      return '<li>' + esc(label) + ' <code>' + esc(name) + '</code>' + esc(cell) + '</li>';
    }).join('') + '</ul>' : '<p data-testid="customer-segments">None.</p>');
    h += '<h2>Order history</h2><table class="orders" data-testid="order-history"><thead><tr><th>day</th><th class="r">amount</th><th class="r">orders</th></tr></thead><tbody>';
    c.orders.forEach(function (o) { h += '<tr><td>' + esc(o[0]) + '</td><td class="r">' + num(o[1]) + '</td><td class="r">' + num(o[2], 0) + '</td></tr>'; });
    return h + '</tbody></table>';
  }

  function auditChart(rows, key) {
    var W = 640, H = 200, P = 40;
    var xs = rows.map(function (r) { return Date.parse(r.snapshot_as_of); });
    var ys = [];
    rows.forEach(function (r) { ys.push(r['predicted_' + key + '_p05'], r['predicted_' + key + '_p95'], r['actual_' + key], r['predicted_' + key]); });
    ys = ys.filter(function (v) { return v !== null && v !== undefined; });
    if (!rows.length || !ys.length) return '';
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs), y1 = Math.max.apply(null, ys) || 1;
    function X(v) { return x1 === x0 ? W / 2 : P + (W - 2 * P) * (v - x0) / (x1 - x0); }
    function Y(v) { return H - P / 2 - (H - P) * (v / y1); }
    var s = '<svg class="chart" viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="predicted vs actual ' + key + '">';
    rows.forEach(function (r, i) {
      var x = X(xs[i]);
      s += '<line x1="' + x + '" x2="' + x + '" y1="' + Y(r['predicted_' + key + '_p05'] || 0) + '" y2="' + Y(r['predicted_' + key + '_p95'] || 0) + '" class="iv"/>';
      s += '<circle cx="' + x + '" cy="' + Y(r['predicted_' + key] || 0) + '" r="4" class="pred"/>';
      s += '<rect x="' + (x - 4) + '" y="' + (Y(r['actual_' + key] || 0) - 4) + '" width="8" height="8" class="act"/>';
    });
    s += '<text x="' + P + '" y="12" class="lg">● predicted (bar: 90% interval)   ■ actual — max ' + num(y1, 0) + '</text></svg>';
    return s;
  }

  function audit(d) {
    if (d.audit === null) {
      return '<p class="note" data-testid="audit-missing">The prediction audit (<code>marts.prediction_audit</code>) is not in this serving copy yet. ' +
        'It appears here once runs have stored prediction snapshots and a later run has scored them against the orders that arrived.</p>';
    }
    if (!d.audit.length) return '<p class="note" data-testid="audit-missing">No snapshot of this account has been scored yet (it needs a run at a later as-of date).</p>';
    var byH = {};
    d.audit.forEach(function (r) { (byH[r.horizon_days] = byH[r.horizon_days] || []).push(r); });
    var h = '<p class="lede">Earlier predictions against what happened: each stored snapshot scored against the orders that arrived after its as-of date (a partly matured horizon is scored over the days that have passed).</p>';
    Object.keys(byH).sort(function (a, b) { return a - b; }).forEach(function (hd) {
      var rows = byH[hd].slice().sort(function (a, b) {
        return a.snapshot_as_of < b.snapshot_as_of ? -1 : a.snapshot_as_of > b.snapshot_as_of ? 1 :
          (a.matured_days - b.matured_days) || (a.as_of < b.as_of ? -1 : a.as_of > b.as_of ? 1 : 0);
      });
      // the chart: each snapshot once, at its most matured check
      var latest = {};
      rows.forEach(function (r) { latest[r.snapshot_as_of] = r; });
      var chartRows = Object.keys(latest).sort().map(function (k) { return latest[k]; });
      h += '<section data-horizon="' + esc(hd) + '"><h2>' + esc(hd) + '-day horizon</h2>' + auditChart(chartRows, 'orders');
      h += '<table class="audit"><thead><tr><th>snapshot as of</th><th class="r">days matured (scored as of)</th><th class="r">customers</th><th class="r">predicted orders (90%)</th><th class="r">actual orders</th>' +
        '<th class="r">predicted buyers (90%)</th><th class="r">actual buyers</th><th class="r">predicted spend (90%)</th><th class="r">actual spend</th></tr></thead><tbody>';
      rows.forEach(function (r) {
        function cell(k, dg) {
          var ok = r[k + '_within_interval'];
          return '<td class="r" data-col="predicted_' + k + '">' + num(r['predicted_' + k], dg) + '<br>' + interval(r['predicted_' + k + '_p05'], r['predicted_' + k + '_p95'], dg) +
            '</td><td class="r ' + (ok === false ? 'miss' : 'hit') + '" data-col="actual_' + k + '">' + num(r['actual_' + k], dg) + '</td>';
        }
        h += '<tr data-snapshot="' + esc(r.snapshot_as_of) + '" data-matured="' + esc(r.matured_days) + '" data-as-of="' + esc(r.as_of) + '"><td>' + esc(r.snapshot_as_of) + (r.fully_matured ? '' : ' <small>(partly matured)</small>') + '</td><td class="r">' +
          num(r.matured_days, 0) + '<br><small>' + esc(r.as_of) + '</small></td><td class="r">' + num(r.customers, 0) + '</td>' + cell('orders', 1) + cell('buyers', 1) + cell('spend', 2) + '</tr>';
      });
      h += '</tbody></table></section>';
    });
    return h;
  }

  var RENDER = { overview: overview, segments: segments, heatmap: heatmap, channels: channels, customer: customer, audit: audit };

  // ---------- shell: account picker, navigation, data loading ----------
  function linkFor(file) {
    return file + (current ? '?account=' + encodeURIComponent(current) : '');
  }
  function renderNav() {
    document.getElementById('nav').innerHTML = PAGES.map(function (p) {
      var here = p[0].indexOf(page === 'overview' ? 'index' : page) === 0;
      return '<a href="' + linkFor(p[0]) + '"' + (here ? ' class="here"' : '') + '>' + esc(p[1]) + '</a>';
    }).join('');
  }
  function render() {
    var d = cache[current];
    var content = document.getElementById('content');
    if (!d) { content.textContent = 'Loading…'; return; }
    content.innerHTML = RENDER[page](d);
    document.body.setAttribute('data-ready', current);
    var form = document.getElementById('lookup');
    if (form) {
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        params.set('customer', document.getElementById('customer-id').value.trim());
        params.set('account', current);
        history.replaceState(null, '', '?' + params.toString());
        render();
      });
    }
  }
  function load(account) {
    current = account;
    document.body.removeAttribute('data-ready');
    try { localStorage.setItem('clv-account', account); } catch (e) { /* private mode */ }
    params.set('account', account);
    history.replaceState(null, '', '?' + params.toString());
    renderNav();
    if (cache[account]) { render(); return; }
    render();
    var s = document.createElement('script');
    s.src = 'data/' + encodeURIComponent(account) + '.js';
    document.head.appendChild(s);
  }
  window.CLV_ACCOUNT_DATA = function (d) {
    cache[d.account] = d;
    if (d.account === current) render();
  };

  var picker = document.getElementById('account');
  picker.innerHTML = META.accounts.map(function (a) { return '<option value="' + esc(a) + '">' + esc(a) + '</option>'; }).join('');
  document.getElementById('footer').textContent = 'Built ' + (META.built_at || '') + ' from the serving copy ' + (META.serving || '') + '.';
  if (!META.accounts.length) {
    document.getElementById('content').textContent = 'No account in the serving copy.';
    renderNav();
    return;
  }
  var stored = null;
  try { stored = localStorage.getItem('clv-account'); } catch (e) { /* private mode */ }
  var first = [params.get('account'), stored].filter(function (a) { return a && META.accounts.indexOf(a) >= 0; })[0] || META.accounts[0];
  picker.value = first;
  picker.addEventListener('change', function () {
    if (page === 'customer') params.delete('customer');
    load(picker.value);
  });
  load(first);
})();

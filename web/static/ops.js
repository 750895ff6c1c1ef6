// Charts of the operations view. The numbers are in the page as a JSON data
// block (#kpi-data) and as tables; this script only draws them with the
// vendored Chart.js. No inline script: the page's CSP is script-src 'self'.
(function () {
  'use strict';
  var block = document.getElementById('kpi-data');
  if (!block || typeof window.Chart === 'undefined') {
    return;
  }
  var d;
  try {
    d = JSON.parse(block.textContent);
  } catch (e) {
    return;
  }
  if (!d || !d.labels || d.labels.length === 0) {
    return;
  }
  var palette = ['#1f5fbf', '#b3261e', '#1c7c3a', '#8a5a00', '#6b3fa0', '#00838f', '#c2185b', '#5b6575', '#ef6c00', '#2e7d32'];
  var color = function (i) { return palette[i % palette.length]; };

  function draw(id, title, type, datasets, yTitle, options) {
    var canvas = document.getElementById(id);
    if (!canvas) {
      return;
    }
    canvas.parentNode.hidden = false;
    var opts = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: 'index', intersect: false },
      plugins: {
        title: { display: true, text: title },
        legend: { display: datasets.length > 1, position: 'bottom' }
      },
      scales: {
        x: { stacked: !!(options && options.stacked) },
        y: { beginAtZero: true, stacked: !!(options && options.stacked), title: { display: !!yTitle, text: yTitle } }
      }
    };
    if (options && options.max) {
      opts.scales.y.max = options.max;
    }
    if (options && options.integer) {
      opts.scales.y.ticks = { precision: 0 };
    }
    new window.Chart(canvas, { type: type, data: { labels: d.labels, datasets: datasets }, options: opts });
  }

  function line(label, data, i) {
    return { label: label, data: data, borderColor: color(i), backgroundColor: color(i), spanGaps: true, tension: 0.2, pointRadius: 2 };
  }
  function bars(label, data, i) {
    return { label: label, data: data, backgroundColor: color(i), borderColor: color(i) };
  }
  function series(list) {
    return (list || []).map(function (s, i) { return bars(s.label, s.data, i); });
  }

  var total = function (xs) { return (xs || []).reduce(function (a, x) { return a + (x || 0); }, 0); };
  draw('chart-autonomy', 'Autonomy rate (completed with no person)', 'line', [line('Autonomy rate (%)', d.autonomy, 0)], '%', { max: 100 });
  draw('chart-approval', 'Time to approval', 'line', [line('Median', d.approvalMedian, 0), line('p90', d.approvalP90, 1)], 'minutes');
  draw('chart-exceptions', 'Exceptions by reason', 'bar', series(d.exceptions), 'exceptions', { stacked: true, integer: true });
  draw('chart-denials', 'Gate denials by policy', 'bar', series(d.denials), 'denials', { stacked: true, integer: true });
  draw('chart-sla', total(d.slaBreaches) ? 'SLA breaches' : 'SLA breaches (none yet)', 'bar', [bars('SLA breaches', d.slaBreaches, 1)], 'breaches', { integer: true });
  draw('chart-verification', 'Verification failures', 'bar', [bars('Verification failures', d.verificationFailures, 1)], 'failures', { integer: true });
  draw('chart-payments', 'Payments released and verified', 'bar', [bars('Released', d.released, 0), bars('Verified settled', d.verified, 2)], 'payments', { integer: true });
})();

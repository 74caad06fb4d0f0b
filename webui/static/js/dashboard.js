/* The dashboard's charts (templates/dashboard.html), drawn by ECharts (vendor/echarts.min.js) from the figures the
   page carries (#dashboard-charts, the same numbers as the data tables under each chart): the twelve months' trend,
   the period's cases by category and by channel, the departments' ranking with the terms of their score, and
   the time-light board (the departments' open tasks by light).
   A month opens that month's dashboard; a category or a department opens the list of the cases behind its count. */
(function () {
  'use strict';

  var source = document.getElementById('dashboard-charts');
  if (!source || !window.echarts) return;
  var data = JSON.parse(source.textContent);
  var texts = JSON.parse(document.getElementById('dashboard-chart-texts').textContent);
  var charts = [];

  function percent(value) {
    return value === null || value === undefined ? null : Math.round(value * 10000) / 100;
  }

  function draw(id, option, onClick) {
    var element = document.getElementById(id);
    if (!element) return;
    var chart = window.echarts.init(element, null, {renderer: 'canvas'});
    chart.setOption(Object.assign({animation: false, textStyle: {fontFamily: 'inherit'}}, option));
    if (onClick) chart.on('click', onClick);
    charts.push(chart);
  }

  function cases(by, group, figure) {
    var query = new URLSearchParams({from: texts.from, to: texts.to, by: by, group: group || '', figure: figure});
    window.location.href = texts.cases + '?' + query.toString();
  }

  var months = data.trend.map(function (m) { return m.month; });
  draw('chart-trend', {
    tooltip: {trigger: 'axis', valueFormatter: function (v) { return v === null ? '—' : v; }},
    legend: {top: 0},
    grid: {left: 40, right: 48, top: 36, bottom: 28},
    xAxis: {type: 'category', data: months},
    yAxis: [{type: 'value', minInterval: 1}, {type: 'value', max: 100, axisLabel: {formatter: '{value}%'}}],
    series: [
      {name: texts.opened, type: 'bar', barMaxWidth: 24, data: data.trend.map(function (m) { return m.opened; })},
      {name: texts.closed, type: 'bar', barMaxWidth: 24, data: data.trend.map(function (m) { return m.closed; })},
      {name: texts.closure_rate, type: 'line', yAxisIndex: 1,
       data: data.trend.map(function (m) { return percent(m.closure_rate); })},
      {name: texts.on_time_rate, type: 'line', yAxisIndex: 1,
       data: data.trend.map(function (m) { return percent(m.on_time_rate); })}
    ]
  }, function (event) {
    var month = data.trend[event.dataIndex];
    var query = new URLSearchParams({from: month.from, to: month.to, by: texts.by});
    window.location.href = texts.dashboard + '?' + query.toString();
  });

  var categories = data.categories.slice().reverse();
  draw('chart-categories', {
    tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
    grid: {left: 8, right: 24, top: 8, bottom: 8, containLabel: true},
    xAxis: {type: 'value', minInterval: 1},
    yAxis: {type: 'category', data: categories.map(function (c) { return c.name; })},
    series: [{name: texts.opened, type: 'bar', barMaxWidth: 28, data: categories.map(function (c) { return c.opened; })}]
  }, function (event) {
    cases('category', categories[event.dataIndex].group, 'opened');
  });

  draw('chart-channels', {
    tooltip: {trigger: 'item', formatter: '{b}: {c} ({d}%)'},
    series: [{
      type: 'pie', radius: ['35%', '65%'],
      data: data.channels.map(function (c) { return {name: texts.channels[c.channel] || c.channel, value: c.opened}; })
    }]
  });

  var departments = data.departments.slice().reverse();
  draw('chart-ranking', {
    tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
    legend: {top: 0},
    grid: {left: 8, right: 24, top: 48, bottom: 8, containLabel: true},
    xAxis: {type: 'value'},
    yAxis: {type: 'category', data: departments.map(function (d) { return d.name; })},
    series: data.terms.map(function (term) {
      return {name: texts[term], type: 'bar', stack: 'score', barMaxWidth: 28,
              data: departments.map(function (d) { return d.terms[term]; })};
    })
  }, function (event) {
    cases('department', departments[event.dataIndex].group, 'opened');
  });

  // the time-light board: each department's open tasks by the light they show, worst on top
  var palette = {green: '#2e9d5b', blue: '#1d5fbf', yellow: '#e0a800', orange: '#e67e22', red: '#c0392b'};
  var lit = data.lights.departments.slice().reverse();
  draw('chart-lights', {
    tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
    legend: {top: 0},
    grid: {left: 8, right: 24, top: 36, bottom: 8, containLabel: true},
    xAxis: {type: 'value', minInterval: 1},
    yAxis: {type: 'category', data: lit.map(function (d) { return d.name; })},
    series: data.lights.colours.map(function (colour) {
      return {name: texts.lights[colour] || colour, type: 'bar', stack: 'lights', barMaxWidth: 28,
              itemStyle: {color: palette[colour] || '#888'},
              data: lit.map(function (d) { return d.counts[colour]; })};
    })
  });

  // the grid heat-map: the district's own grid boundaries, each grid coloured by its cases opened in the period;
  // a grid opens the list of those cases
  if (data.heat) {
    window.echarts.registerMap('gridloop-grids', data.heat.map);
    var most = Math.max(1, Math.max.apply(null, data.heat.grids.map(function (g) { return g.opened; })));
    var names = {};
    data.heat.grids.forEach(function (g) { names[g.group] = g.name; });
    draw('chart-heat', {
      tooltip: {trigger: 'item', formatter: function (p) {
        return (names[p.name] || p.name) + '<br>' + texts.opened + ': ' + (p.value || 0);
      }},
      visualMap: {min: 0, max: most, calculable: true, left: 8, bottom: 8, itemHeight: 100,
                  inRange: {color: ['#eef4fb', '#9cc3e6', '#2f6fb0', '#c0392b']}},
      series: [{type: 'map', map: 'gridloop-grids', nameProperty: 'code', roam: true, selectedMode: false,
                label: {show: false}, emphasis: {label: {show: false}, itemStyle: {areaColor: '#f5d76e'}},
                itemStyle: {borderColor: '#5a7894', borderWidth: 1},
                data: data.heat.grids.map(function (g) { return {name: g.group, value: g.opened}; })}]
    }, function (p) { cases('grid', p.name, 'opened'); });
  }

  window.addEventListener('resize', function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
}());

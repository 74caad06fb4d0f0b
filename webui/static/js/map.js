/* The grid map, drawn by Leaflet (vendor/leaflet) from the district's own boundaries (#map-units, GeoJSON) on a
   plain background — no tile server. One script for three pages, by the map element's data-map:
   - "page" (/map): the grids with their codes and workers, the open cases as points coloured by their light
     (#map-cases-data); a point opens its event;
   - "event": the event's grid (data-grid) picked out, and its point (data-lat, data-lng) if it has one;
   - "report": tap (or "use my location") to place the report's point: the form's location fields take it. */
(function () {
  'use strict';

  var element = document.querySelector('[data-map]');
  if (!element || !window.L) return;
  var L = window.L;
  var units = JSON.parse(document.getElementById('map-units').textContent);
  var textsNode = document.getElementById('map-texts');
  var texts = textsNode ? JSON.parse(textsNode.textContent) : {};
  var COLOURS = {blue: '#2f6fb0', green: '#2e8540', yellow: '#c99a00', orange: '#d9730d', red: '#c0392b', hold: '#6b7785'};
  var LEVEL_STYLE = {
    district: {color: '#1f3b57', weight: 3, fill: false},
    town: {color: '#1f3b57', weight: 2.5, fill: false, dashArray: '8 4'},
    community: {color: '#3d6a94', weight: 2, fill: false},
    grid: {color: '#7a96b2', weight: 1, fillColor: '#dce7f2', fillOpacity: 0.35}
  };
  var kind = element.getAttribute('data-map');
  var selected = element.getAttribute('data-grid');

  var map = L.map(element, {attributionControl: false, zoomSnap: 0.25, minZoom: 9, maxZoom: 19});

  function text(value) {
    var span = document.createElement('span');
    span.textContent = value === null || value === undefined ? '' : String(value);
    return span.innerHTML;
  }

  // larger units under smaller ones: the district, towns and communities draw their outlines, grids their areas
  var order = {district: 0, town: 1, community: 2, grid: 3};
  var grids = units.features.filter(function (f) { return f.properties.level === 'grid'; }).length;
  units.features.sort(function (a, b) { return order[a.properties.level] - order[b.properties.level]; });
  var layer = L.geoJSON(units, {
    style: function (feature) {
      var style = Object.assign({}, LEVEL_STYLE[feature.properties.level] || LEVEL_STYLE.grid);
      if (selected && feature.properties.code === selected) {
        style = Object.assign(style, {color: '#c0392b', weight: 3, fill: true, fillColor: '#fde7e4', fillOpacity: 0.5});
      }
      return style;
    },
    interactive: kind !== 'report',
    onEachFeature: function (feature, shape) {
      var p = feature.properties;
      var named = kind === 'page' && grids <= 80;  // a district of a few dozen grids names them on the map
      if (p.level === 'community' && named) {
        var edge = shape.getBounds();
        L.tooltip({permanent: true, direction: 'bottom', className: 'map-label map-label-community', interactive: false})
          .setLatLng([edge.getNorth(), edge.getCenter().lng]).setContent(text(p.name)).addTo(map);
      }
      if (p.level !== 'grid') return;
      if (named) {
        // inside its community a grid is named without the community's name (湖滨社区第一网格 → 第一网格)
        var parent = units.features.filter(function (f) { return f.properties.code === p.parent; })[0];
        var short = parent && p.name.indexOf(parent.properties.name) === 0 ? p.name.slice(parent.properties.name.length) : p.name;
        shape.bindTooltip(text(short || p.name), {permanent: true, direction: 'center', className: 'map-label'});
      } else {
        shape.bindTooltip(text(p.name), {sticky: true});
      }
      var workers = p.workers && p.workers.length ? p.workers.map(text).join('、') : text(texts.no_workers || '');
      shape.bindPopup('<strong>' + text(p.name) + '</strong><br><code>' + text(p.code) + '</code><br>' +
        text(texts.workers || '') + workers);
    }
  }).addTo(map);
  var bounds = layer.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, {padding: [8, 8]});

  function dot(lat, lng, colour, radius) {
    return L.circleMarker([lat, lng], {
      radius: radius || 7, color: '#ffffff', weight: 2, fillColor: COLOURS[colour] || '#1f3b57', fillOpacity: 0.95
    });
  }

  if (kind === 'page') {
    var cases = JSON.parse(document.getElementById('map-cases-data').textContent);
    cases.forEach(function (c) {
      var marker = dot(c.lat, c.lng, c.light).addTo(map);
      var light = c.light ? (texts.lights[c.light] || c.light) : '—';
      marker.bindPopup('<a href="' + texts.event + c.id + '"><strong>' + text(c.code) + '</strong></a><br>' +
        text(c.category_name) + '<br>' + text(c.grid_name) + (c.placement === 'fallback' ? ' · ' + text(texts.fallback) : '') +
        '<br>' + text(light));
    });
    element.setAttribute('data-cases', String(cases.length));
  }

  if (kind === 'event') {
    // the event's own unit (its grid, or for a case placed with its community that community), and its point
    var focus = null;
    layer.eachLayer(function (shape) {
      if (shape.feature.properties.code === selected) focus = L.latLngBounds(shape.getBounds().getSouthWest(), shape.getBounds().getNorthEast());
    });
    var lat = parseFloat(element.getAttribute('data-lat'));
    var lng = parseFloat(element.getAttribute('data-lng'));
    if (!isNaN(lat) && !isNaN(lng)) {
      dot(lat, lng, element.getAttribute('data-light'), 8).addTo(map);
      focus = focus ? focus.extend([lat, lng]) : L.latLngBounds([[lat, lng], [lat, lng]]);
    }
    if (focus) map.fitBounds(focus, {padding: [24, 24], maxZoom: 17});
  }

  // a map drawn inside a closed <details> (the report form's) has no size yet: fit it when opened
  var folded = element.closest ? element.closest('details') : null;
  if (folded) {
    folded.addEventListener('toggle', function () {
      if (!folded.open) return;
      map.invalidateSize();
      if (bounds.isValid() && !element.hasAttribute('data-placed')) map.fitBounds(bounds, {padding: [8, 8]});
    });
  }

  if (kind === 'report') {
    var latInput = document.querySelector('[name="location.lat"]');
    var lngInput = document.querySelector('[name="location.lng"]');
    var status = document.getElementById('report-map-status');
    var marker = null;
    var place = function (lat, lng, from) {
      lat = Math.round(lat * 1e6) / 1e6;
      lng = Math.round(lng * 1e6) / 1e6;
      if (latInput) latInput.value = lat;
      if (lngInput) lngInput.value = lng;
      if (marker) marker.setLatLng([lat, lng]);
      else marker = dot(lat, lng, 'red', 9).addTo(map);
      element.setAttribute('data-placed', lat + ',' + lng);
      if (status) status.textContent = (from || '') + lat + ', ' + lng;
    };
    if (latInput && lngInput && latInput.value && lngInput.value) {
      place(parseFloat(latInput.value), parseFloat(lngInput.value));
    }
    // a tapped point places the report: the grid is then the one holding the point, not a chosen one
    var gridSelect = document.getElementById('f-grid');
    var tapped = function (lat, lng) {
      place(lat, lng);
      if (gridSelect) gridSelect.value = '';
    };
    map.on('click', function (e) { tapped(e.latlng.lat, e.latlng.lng); });
    var locate = document.getElementById('report-map-locate');
    if (locate && navigator.geolocation) {
      locate.hidden = false;
      locate.addEventListener('click', function () {
        navigator.geolocation.getCurrentPosition(function (position) {
          tapped(position.coords.latitude, position.coords.longitude);
          map.setView([position.coords.latitude, position.coords.longitude], 16);
        });
      });
    }
  }
  element.setAttribute('data-ready', 'true');
})();

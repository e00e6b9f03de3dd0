// The routing map: for one service and one level, each area coloured by the department that
// would receive a case there (a rule on the area or an ancestor, the category's default
// department, or triage).
(function () {
  "use strict";
  var element = document.getElementById("routing-map");
  var serviceSelect = document.getElementById("ownership-service");
  var levelSelect = document.getElementById("ownership-level");
  if (!element || !window.L || !serviceSelect || !levelSelect) {
    return;
  }
  var L = window.L;
  var lang = element.dataset.lang;
  var legend = document.getElementById("ownership-legend");
  var info = document.getElementById("ownership-area");
  var PALETTE = [
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22",
    "#e377c2", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173",
  ];
  var TRIAGE = { color: "#c92a2a", weight: 1.5, dashArray: "4 3", fillColor: "#ffd8a8", fillOpacity: 0.55 };
  var map = L.map(element, { preferCanvas: true, zoomSnap: 0.25 });
  map.setView([0, 0], 2);
  if (element.dataset.tileUrl) {
    L.tileLayer(element.dataset.tileUrl, {
      attribution: element.dataset.tileAttribution,
      maxZoom: 19,
    }).addTo(map);
  }
  var areasByLevel = {};
  var layer = null;
  var fitted = false;
  var request = 0;

  function json(url) {
    return fetch(url, { headers: { accept: "application/json" } }).then(function (response) {
      if (!response.ok) {
        throw new Error(url + ": " + response.status);
      }
      return response.json();
    });
  }

  function areas(level) {
    if (!areasByLevel[level]) {
      areasByLevel[level] = json("/api/geo/areas?level=" + encodeURIComponent(level));
    }
    return areasByLevel[level];
  }

  function colours(ownership) {
    var codes = Object.keys(ownership.departments).sort();
    var result = {};
    codes.forEach(function (code, index) {
      result[code] = PALETTE[index % PALETTE.length];
    });
    return result;
  }

  function departmentName(ownership, code) {
    var names = ownership.departments[code];
    if (!names) {
      return code;
    }
    return code + " · " + (lang === "zh-CN" ? names.name_zh : names.name_en);
  }

  function drawLegend(ownership, palette) {
    legend.textContent = "";
    var counts = {};
    var triage = 0;
    ownership.areas.forEach(function (owner) {
      if (owner.department_code) {
        counts[owner.department_code] = (counts[owner.department_code] || 0) + 1;
      } else {
        triage += 1;
      }
    });
    function item(swatchClass, colour, text, testid) {
      var li = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "swatch" + (swatchClass ? " " + swatchClass : "");
      if (colour) {
        swatch.style.backgroundColor = colour;
      }
      li.appendChild(swatch);
      li.appendChild(document.createTextNode(text));
      li.dataset.testid = testid;
      legend.appendChild(li);
    }
    Object.keys(palette).forEach(function (code) {
      var text = departmentName(ownership, code) + " (" + (counts[code] || 0) + ")";
      item("", palette[code], text, "legend-" + code);
    });
    if (triage) {
      item("triage", null, element.dataset.labelTriage + " (" + triage + ")", "legend-triage");
    }
  }

  function describe(feature, owner, ownership) {
    var props = feature.properties || {};
    var name = lang === "zh-CN" ? props.name_zh : props.name_en;
    var text = feature.id + (name && name !== feature.id ? " · " + name : "") + " → ";
    if (!owner || !owner.department_code) {
      return text + element.dataset.labelTriage;
    }
    text += departmentName(ownership, owner.department_code);
    if (owner.source === "rule") {
      return text + " (" + element.dataset.labelRule + " #" + owner.rule_id + ", " + owner.rule_area_code + ")";
    }
    return text + " (" + element.dataset.labelDefault + ")";
  }

  function draw() {
    var service = serviceSelect.value;
    var level = levelSelect.value;
    if (!service) {
      return;
    }
    var mine = ++request;
    element.dataset.ready = "loading";
    var url = "/api/cases/routing/ownership?service_code=" + encodeURIComponent(service) +
      "&level=" + encodeURIComponent(level);
    Promise.all([areas(level), json(url)])
      .then(function (results) {
        if (mine !== request) {
          return;
        }
        var collection = results[0];
        var ownership = results[1];
        var owners = {};
        ownership.areas.forEach(function (owner) {
          owners[owner.area_code] = owner;
        });
        var palette = colours(ownership);
        if (layer) {
          map.removeLayer(layer);
        }
        layer = L.geoJSON(collection, {
          style: function (feature) {
            var owner = owners[feature.id];
            if (!owner || !owner.department_code) {
              return TRIAGE;
            }
            return {
              color: "#ffffff",
              weight: owner.source === "rule" ? 1.5 : 0.8,
              fillColor: palette[owner.department_code],
              fillOpacity: owner.source === "rule" ? 0.6 : 0.4,
            };
          },
          onEachFeature: function (feature, featureLayer) {
            featureLayer.on("click", function () {
              info.textContent = describe(feature, owners[feature.id], ownership);
            });
          },
        }).addTo(map);
        drawLegend(ownership, palette);
        if (!fitted && collection.features.length) {
          map.fitBounds(layer.getBounds());
          fitted = true;
        }
        element.dataset.ready = "true";
      })
      .catch(function () {
        if (mine === request) {
          legend.textContent = element.dataset.labelError;
          element.dataset.ready = "error";
        }
      });
  }

  serviceSelect.addEventListener("change", draw);
  levelSelect.addEventListener("change", draw);
  document.getElementById("ownership-form").addEventListener("submit", function (event) {
    event.preventDefault();
    draw();
  });
  draw();
})();

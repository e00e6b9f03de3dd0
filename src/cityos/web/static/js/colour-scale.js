// A share from 0 to 1 as a colour from green through amber to red (the sensor maps).
(function () {
  "use strict";
  var stops = [
    [43, 138, 62],
    [245, 159, 0],
    [201, 42, 42],
  ];
  window.cityosColourScale = function (share) {
    var x = Math.max(0, Math.min(1, share)) * 2;
    var i = Math.min(1, Math.floor(x));
    var f = x - i;
    var rgb = stops[i].map(function (c, k) {
      return Math.round(c + (stops[i + 1][k] - c) * f);
    });
    return "rgb(" + rgb.join(",") + ")";
  };
})();

// Arrays whose length runs past their elements (holes at the end, sparse arrays) through push,
// unshift, splice, spread, apply and the searches: no slot may read back as anything but a hole.
async function probe() {
  const show = (a) => ({
    json: JSON.stringify(a),
    length: a.length,
    present: Array.from({ length: a.length }, (_, i) => i in a),
  });
  const out = {};

  const pushed = new Array(3);
  out.pushReturns = pushed.push("x");
  out.push = show(pushed);
  out.pushHole = [0 in pushed, pushed[0], typeof pushed[1]];

  const longer = [1, 2];
  longer.length = 5;
  longer.push(9, 10);
  out.pushAfterLength = show(longer);

  const many = new Array(2);
  for (let i = 0; i < 40; i++) many.push(i);
  out.pushGrows = [many.length, 0 in many, 1 in many, many[2], many[41]];

  const sparse = [];
  sparse[5] = "five";
  sparse.push("six");
  out.sparsePush = show(sparse);

  const unshifted = new Array(2);
  unshifted.unshift("a", "b");
  out.unshift = show(unshifted);

  const spliced = new Array(4);
  spliced.splice(1, 1, "s");
  out.splice = show(spliced);
  const spliced2 = new Array(3);
  out.spliceRemoved = show(spliced2.splice(0, 2));
  spliced2.push("end");
  out.spliceThenPush = show(spliced2);

  const holes = new Array(3);
  holes.push("h");
  out.spread = JSON.stringify([...holes]);
  out.apply = Math.max.apply(null, [1, ...new Array(2), 3].map((v) => v ?? 0));
  out.applyHoles = (function () {
    return Array.from(arguments, (v) => v === undefined);
  }).apply(null, holes);
  out.concat = show(holes.concat(["c"]));
  out.slice = show(holes.slice(0, 2));
  out.searches = [
    holes.indexOf(undefined),
    holes.lastIndexOf(undefined),
    holes.includes(undefined),
    holes.indexOf("h"),
    holes.lastIndexOf("h"),
    holes.findIndex((v) => v === undefined),
  ];
  out.iterate = [];
  for (const v of holes) out.iterate.push(v === undefined ? "u" : v);
  out.forEach = [];
  holes.forEach((v, i) => out.forEach.push(i));
  out.map = show(holes.map((v) => v + "!"));
  out.filled = show(new Array(3).fill(0).concat(new Array(1)));
  out.join = holes.join("-");
  out.sorted = show(new Array(2).concat([3, 1]).sort());
  out.reversed = show(new Array(2).concat(["r"]).reverse());
  out.pop = (() => {
    const a = new Array(3);
    a.push("p");
    return [a.pop(), a.pop(), a.length];
  })();

  // What preact-render-to-string does with its async renderer's buffer.
  const parts = new Array(2);
  parts.push("<main>", "</main>");
  out.rendered = parts.join("");
  return out;
}

// "Turn in 3D": the character's glTF file (the rig's mesh with the edited parameters) drawn
// by three.js, turned by dragging. The camera starts where the rig's own camera stands.
const root = document.getElementById("editor");

const RIG_CAMERA = { fovDeg: 15.674, distance: 1.10, height: -0.005 };  // facefit/rig/camera.py, metres

async function loadThree() {
  const THREE = await import(root.dataset.threeUrl);
  const { GLTFLoader } = await import(root.dataset.loaderUrl);
  return { THREE, GLTFLoader };
}

function setupOrbit() {
  const canvas = document.getElementById("orbit");
  const picture = document.getElementById("character");
  const button = document.getElementById("turn");
  let view = null;

  async function open() {
    const { THREE, GLTFLoader } = await loadThree();
    const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
    renderer.setPixelRatio(1);
    renderer.setSize(canvas.width, canvas.height, false);
    renderer.outputColorSpace = THREE.SRGBColorSpace;
    const scene = new THREE.Scene();
    scene.background = new THREE.Color().setRGB(0.86, 0.86, 0.85, THREE.SRGBColorSpace);
    const camera = new THREE.PerspectiveCamera(RIG_CAMERA.fovDeg, 1, 0.6, 1.6);
    // The rig's lights (facefit/rig/shaders.py, light()): a key light from upper left at 0.9,
    // a fill from the right at 0.3, a sky/ground ambient. three.js divides a Lambert surface's
    // light by pi, hence the factors. Fixed to the head, so the frontal view is the rig's.
    const key = new THREE.DirectionalLight(0xffffff, 0.9 * Math.PI);
    key.position.set(-0.35, 0.45, 1.0);
    const fill = new THREE.DirectionalLight(0xffffff, 0.3 * Math.PI);
    fill.position.set(0.6, 0.05, 0.8);
    const linear = (r, g, b) => new THREE.Color().setRGB(r, g, b, THREE.LinearSRGBColorSpace);
    const ambient = new THREE.HemisphereLight(linear(0.26, 0.26, 0.27), linear(0.16, 0.15, 0.15), Math.PI);
    scene.add(key, fill, ambient, camera);
    const state = { yaw: 0, pitch: 0, model: null };
    function place() {
      const r = RIG_CAMERA.distance;
      camera.position.set(
        r * Math.sin(state.yaw) * Math.cos(state.pitch),
        RIG_CAMERA.height + r * Math.sin(state.pitch),
        r * Math.cos(state.yaw) * Math.cos(state.pitch),
      );
      camera.lookAt(0, RIG_CAMERA.height, 0);
      renderer.render(scene, camera);
    }
    async function load(query) {
      const gltf = await new GLTFLoader().loadAsync(`${root.dataset.glbUrl}?${query}`);
      if (state.model) scene.remove(state.model);
      state.model = gltf.scene;
      scene.add(state.model);
      place();
      canvas.dataset.loaded = query;
    }
    let drag = null;
    canvas.addEventListener("pointerdown", (event) => {
      drag = { x: event.clientX, y: event.clientY, yaw: state.yaw, pitch: state.pitch };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drag) return;
      state.yaw = drag.yaw - (event.clientX - drag.x) * 0.01;
      state.pitch = Math.max(-0.6, Math.min(0.6, drag.pitch + (event.clientY - drag.y) * 0.01));
      place();
    });
    canvas.addEventListener("pointerup", () => { drag = null; });
    view = {
      load,
      setYaw(degrees) { state.yaw = (degrees * Math.PI) / 180; place(); },
      yawDegrees() { return (state.yaw * 180) / Math.PI; },
    };
    window.facefitOrbit = view;
    return view;
  }

  button.addEventListener("click", async () => {
    const on = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(on));
    canvas.hidden = !on;
    picture.hidden = on;
    if (!on) return;
    if (!view) await open();
    await view.load(root.facefitQuery());
  });
}

if (root) setupOrbit();

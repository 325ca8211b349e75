#!/usr/bin/env python3
# Neural Style Transfer for GIMP 3 (Filters > Artistic > Neural Style Transfer... and
# Filters > Artistic > Neural Style > Visualize Network Units...).
#
# This file holds every GIMP call of the plug-in (the dialog's preview: nst_preview.py). The
# engine (nst_engine, with PyTorch) runs as a separate process in its own Python, started by
# nst_client.py through the contract (nst_contract: requests as its command line, JSON-lines
# events); the other nst_*.py modules are the GIMP-independent rest; see docs/plugin.md.
import os
import sys
import traceback

import gi
gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio, GLib, GObject  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nst_client  # noqa: E402
from nst_contract import options  # noqa: E402
import nst_config  # noqa: E402
import nst_files  # noqa: E402
import nst_jobs  # noqa: E402
import nst_progress  # noqa: E402
import nst_regions  # noqa: E402
import nst_tempdirs  # noqa: E402
from nst_errors import Cancelled, ConfigError, NstError, RegionError, VISUALIZE_TASK  # noqa: E402

PROC_NAME = "plug-in-neural-style-transfer"
VIS_PROC_NAME = "plug-in-neural-style-visualize"
RW = GObject.ParamFlags.READWRITE
CHOICE_ARGUMENTS = ("style-source", "preset", "region")   # the procedure's Gimp.Choice arguments
RGBA = "R'G'B'A u8"
RGB = "R'G'B' u8"
GRAY = "Y u8"


def _choice(words):
    """A Gimp.Choice of ``words``' choices, {nick: (label, meaning)}, in order."""
    choice = Gimp.Choice.new()
    for i, (nick, (label, _meaning)) in enumerate(words.items()):
        choice.add(nick, i, label, "")
    return choice


def _choice_help(words):
    """'a' (what a means), 'b' or 'c': the choices named in an argument's help."""
    names = [f"'{nick}'" + (f" ({meaning})" if meaning else "") for nick, (_label, meaning) in words.items()]
    return ", ".join(names[:-1]) + " or " + names[-1]


# ----------------------------------------------------------------------------- pixels

def _read(drawable, rect, fmt, abyss=Gegl.AbyssPolicy.NONE, size=None):
    """Bytes of ``rect`` (x, y, w, h, drawable coordinates) in babl format ``fmt``; with ``size``
    (w, h), scaled to that by GEGL (the preview's), without a copy of the full-size pixels."""
    x, y, w, h = rect
    if size is None:
        area, scale = Gegl.Rectangle.new(x, y, w, h), 1.0
    else:
        scale = size[0] / w
        area = Gegl.Rectangle.new(round(x * scale), round(y * scale), size[0], size[1])
    return bytes(drawable.get_buffer().get(area, scale, fmt, abyss))


def _write(drawable, rect, fmt, data):
    x, y, w, h = rect
    buf = drawable.get_buffer()
    buf.set(Gegl.Rectangle.new(x, y, w, h), fmt, data)
    buf.flush()
    drawable.update(x, y, w, h)


def _export_png(data, width, height, fmt, path):
    """Write pixels to a PNG with GIMP's own exporter, through a hidden temporary image."""
    gray = fmt == GRAY
    tmp = Gimp.Image.new(width, height, Gimp.ImageBaseType.GRAY if gray else Gimp.ImageBaseType.RGB)
    try:
        tmp.undo_disable()
        layer = Gimp.Layer.new(tmp, "pixels", width, height,
                               Gimp.ImageType.GRAY_IMAGE if gray else Gimp.ImageType.RGB_IMAGE,
                               100.0, Gimp.LayerMode.NORMAL)
        tmp.insert_layer(layer, None, 0)
        _write(layer, (0, 0, width, height), fmt, data)
        if not Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, tmp, Gio.File.new_for_path(path), None):
            raise NstError(f"GIMP could not write the temporary file {path}.")
    finally:
        tmp.delete()


def _open_rgb(path, failure):
    """A file loaded by GIMP as a hidden RGB image (the caller deletes it); ``failure`` starts the error."""
    try:
        img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
    except GLib.Error as e:
        raise NstError(f"{failure} {path}: {e.message}")
    if img is None:
        raise NstError(f"{failure} {path}.")
    try:
        img.undo_disable()
        if img.get_base_type() != Gimp.ImageBaseType.RGB:
            img.convert_rgb()
    except BaseException:
        img.delete()
        raise
    return img


def _export_file_as_png(src_path, path):
    """Convert an image file the engine cannot read (e.g. XCF) to PNG with GIMP's loaders."""
    img = _open_rgb(src_path, "GIMP cannot open the style image")
    try:
        img.flatten()
        if not Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, img, Gio.File.new_for_path(path), None):
            raise NstError(f"GIMP could not convert the style image {src_path} to PNG.")
    finally:
        img.delete()


def _load_result(path, width, height):
    """The engine's PNG, loaded by GIMP, scaled to width x height, as R'G'B'A u8 bytes."""
    img = _open_rgb(path, "GIMP cannot read the engine's result")
    try:
        if img.get_width() != width or img.get_height() != height:
            Gimp.context_push()
            try:
                Gimp.context_set_interpolation(Gimp.InterpolationType.CUBIC)
                img.scale(width, height)
            finally:
                Gimp.context_pop()
        layer = img.flatten()
        return _read(layer, (0, 0, width, height), RGBA, Gegl.AbyssPolicy.CLAMP)
    finally:
        img.delete()


# ----------------------------------------------------------------------------- the run

class _Progress:
    def __init__(self):
        self.last_text = None

    def __call__(self, ev):
        frac = nst_progress.progress_fraction(ev)
        text = nst_progress.progress_text(ev)
        if text != self.last_text:
            Gimp.progress_set_text(text)
            self.last_text = text
        if frac is not None:
            Gimp.progress_update(frac)


def _target_layer(image, drawables):
    if isinstance(drawables, Gimp.Drawable):   # defensive: a single drawable, not a list
        drawables = [drawables]
    if drawables is None or len(drawables) != 1:
        raise NstError("Select exactly one layer to stylise (Neural Style Transfer works on one "
                          f"layer at a time; {0 if drawables is None else len(drawables)} selected).")
    d = drawables[0]
    if isinstance(d, Gimp.LayerMask):
        d = Gimp.Layer.from_mask(d)
    if not isinstance(d, Gimp.Layer):
        raise NstError("Neural Style Transfer works on a layer: select a layer, not a channel.")
    if d.is_group():
        raise NstError("Neural Style Transfer cannot stylise a layer group: select a normal layer "
                          "(or merge the group first).")
    base = image.get_base_type()
    if base not in (Gimp.ImageBaseType.RGB, Gimp.ImageBaseType.GRAY):
        raise NstError("Unsupported image mode (indexed): convert the image to RGB first "
                          "(Image > Mode > RGB).")
    return d


def _style_choice(config):
    source = config.get_property("style-source") or nst_files.STYLE_SOURCES[0]
    layer = config.get_property("style-layer")
    gfile = config.get_property("style-file")
    path = gfile.get_path() if gfile is not None else None
    if source == "layer" or (source == "auto" and layer is not None):
        if layer is None or not layer.is_valid():
            raise NstError("Style source is \"layer\" but no style layer is chosen: pick a layer "
                              "of an open image as the style.")
        return "layer", layer
    if not path:
        raise NstError("Choose a style image: a file (Style image) or a layer of an open image "
                          "(Style layer).")
    if not os.path.isfile(path):
        raise NstError(f"The style image {path} does not exist.")
    return "file", path


def _style_png(style_kind, style, png_path):
    """(a file the engine reads for the style, the new layer's name): a style layer or a file
    Pillow cannot read is written to ``png_path``; the run and the preview both use this."""
    if style_kind == "layer":
        sw, sh = style.get_width(), style.get_height()
        _export_png(_read(style, (0, 0, sw, sh), RGB), sw, sh, RGB, png_path)
        return png_path, nst_files.style_layer_name(style.get_name(), is_file=False)
    if style.lower().endswith(nst_files.ENGINE_READABLE):
        return style, nst_files.style_layer_name(style)
    _export_file_as_png(style, png_path)
    return png_path, nst_files.style_layer_name(style)


def _layer_rect(layer):
    """The layer's (x, y, w, h) in image coordinates."""
    ok, off_x, off_y = layer.get_offsets()
    return (off_x, off_y, layer.get_width(), layer.get_height())


def _choose_region(image, layer, config):
    """The region the dialog's setting names for this layer: "mask", "selection" or "none"
    (nst_regions.choose_region says why another is impossible). The run and the preview use it."""
    sel_bounds = None
    if not Gimp.Selection.is_empty(image):
        ok, non_empty, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
        if non_empty:
            sel_bounds = (x1, y1, x2 - x1, y2 - y1)
    return nst_regions.choose_region(config.get_property("region") or nst_regions.REGIONS[0],
                                     layer.get_mask() is not None, sel_bounds, _layer_rect(layer))


def _region_mask(image, layer, region, size=None):
    """The region's one-byte mask at the layer's size (or scaled to ``size``, the preview's), or
    None for the whole layer. The run and the preview use it."""
    width, height = layer.get_width(), layer.get_height()
    if region == "none":
        return None
    if region == "mask":
        mask = _read(layer.get_mask(), (0, 0, width, height), GRAY, size=size)
    else:
        # The selection channel covers the image; read the layer's rectangle of it
        # (image coordinates; outside the image reads as unselected).
        mask = _read(image.get_selection(), _layer_rect(layer), GRAY, size=size)
    if nst_regions.mask_is_empty(mask):
        what = "layer mask is black" if region == "mask" else "selection does not cover the layer"
        raise RegionError(f"Nothing to stylise: the {what}. Choose another region.")
    return mask


def stylize(procedure, image, drawables, config):
    layer = _target_layer(image, drawables)
    cfg = nst_config.load_config()
    style = _style_choice(config)   # (kind, layer or path); the source layer itself is allowed
    region = _choose_region(image, layer, config)
    Gimp.progress_init("Neural style transfer: preparing")
    width, height = layer.get_width(), layer.get_height()
    source_rgba = _read(layer, (0, 0, width, height), RGBA)
    mask = _region_mask(image, layer, region)
    result, style_name = _run_stylize(cfg, layer, mask, style, config)
    pixels = nst_regions.compose_result(result, source_rgba, mask)
    new = _add_result_layer(image, layer, style_name, pixels, mask)
    Gimp.progress_update(1.0)
    Gimp.progress_end()
    Gimp.displays_flush()
    return new


def _run_stylize(cfg, layer, mask, style, config):
    """The engine's run on the layer's pixels, in a private temp folder: (the result as
    R'G'B'A u8 at the layer's size, the new layer's name)."""
    width, height = layer.get_width(), layer.get_height()
    with nst_tempdirs.RunDir(nst_tempdirs.temp_root(cfg)) as run:
        content_png = run.file("content.png")
        _export_png(_read(layer, (0, 0, width, height), RGB), width, height, RGB, content_png)
        mask_png = None
        if mask is not None:
            mask_png = run.file("mask.png")
            _export_png(mask, width, height, GRAY, mask_png)
        style_png, style_name = _style_png(*style, run.file("style.png"))
        job = nst_jobs.Job(content=content_png, style=style_png, output=run.file("result.png"),
                           layer_size=(width, height), mask=mask_png,
                           strength=config.get_property("strength"),
                           preset=config.get_property("preset") or options.DEFAULT_QUALITY,
                           size=config.get_property("size"),
                           preserve_color=config.get_property("preserve-color"),
                           seed=config.get_property("seed"),
                           iterations=config.get_property("iterations"))
        argv = nst_jobs.build_argv(cfg, job)
        Gimp.progress_set_text("Neural style transfer: starting the engine")
        nst_client.run_engine(argv, nst_client.engine_env(cfg), run.file("engine-stderr.log"),
                              on_event=_Progress(), popen_kw=nst_client.popen_kwargs(cfg, run.path))
        Gimp.progress_set_text("Neural style transfer: adding the layer")
        return _load_result(job.output, width, height), style_name


def _add_result_layer(image, layer, name, pixels, mask):
    """The new layer above ``layer`` (with ``mask`` as its layer mask): one undo step; nothing
    is left behind when it fails."""
    width, height = layer.get_width(), layer.get_height()
    off_x, off_y = _layer_rect(layer)[:2]
    layer_type = (Gimp.ImageType.RGBA_IMAGE if image.get_base_type() == Gimp.ImageBaseType.RGB
                  else Gimp.ImageType.GRAYA_IMAGE)
    image.undo_group_start()
    new = None
    try:
        new = Gimp.Layer.new(image, name, width, height, layer_type, 100.0, Gimp.LayerMode.NORMAL)
        image.insert_layer(new, layer.get_parent(), image.get_item_position(layer))
        new.set_offsets(off_x, off_y)
        _write(new, (0, 0, width, height), RGBA, pixels)
        if mask is not None:
            new_mask = new.create_mask(Gimp.AddMaskType.WHITE)
            new.add_mask(new_mask)
            _write(new_mask, (0, 0, width, height), GRAY, mask)
        image.set_selected_layers([new])
    except Exception:
        if new is not None and new.is_valid() and new.get_image() is not None:
            image.remove_layer(new)
        raise
    finally:
        image.undo_group_end()
    return new


# ----------------------------------------------------------------------------- visualize

def _export_image_flat(image, path):
    """An open image, flattened to 8-bit RGB, to a PNG with GIMP's own exporter. Works on
    a duplicate: the open image is not touched (not even its export file name)."""
    name = _image_label(image)
    if not any(layer.get_visible() for layer in image.get_layers()):
        raise NstError(f"The open image \"{name}\" has no visible layer: show a layer, close "
                          "the image, or choose a folder of images instead.")
    dup = image.duplicate()
    try:
        dup.undo_disable()
        if dup.get_base_type() != Gimp.ImageBaseType.RGB:
            dup.convert_rgb()
        if dup.get_precision() != Gimp.Precision.U8_NON_LINEAR:
            dup.convert_precision(Gimp.Precision.U8_NON_LINEAR)
        try:
            dup.flatten()
            ok = Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, dup, Gio.File.new_for_path(path),
                                None)
        except GLib.Error as e:
            raise NstError(f"GIMP could not export the open image \"{name}\" for the "
                              f"visualization: {e.message}")
        if not ok:
            raise NstError(f"GIMP could not export the open image \"{name}\" to {path}.")
    finally:
        dup.delete()


def _image_label(image):
    """A readable name for an open image: its file (XCF, imported or exported) if it has one,
    else GIMP's name ("[Untitled]"); get_name() is "[Untitled]" for imported files."""
    for getter in ("get_xcf_file", "get_imported_file", "get_exported_file", "get_file"):
        fn = getattr(image, getter, None)
        try:
            gfile = fn() if fn is not None else None
        except Exception:
            gfile = None
        name = gfile.get_basename() if gfile is not None else None
        if name:
            return name
    return image.get_name()


def _open_picture(path, layer_name):
    """The engine's picture as a new, untitled, clean image (not tied to the temp file)."""
    gfile = Gio.File.new_for_path(path)
    img = Gimp.Image.new(1, 1, Gimp.ImageBaseType.RGB)
    try:
        img.undo_disable()
        layer = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img, gfile)
        if layer is None:
            raise NstError(f"GIMP cannot read the engine's picture {path}.")
        img.insert_layer(layer, None, 0)
        layer.set_name(layer_name)
        img.resize_to_layers()
        img.undo_enable()
        img.clean_all()
    except GLib.Error as e:
        img.delete()
        raise NstError(f"GIMP cannot read the engine's picture {path}: {e.message}")
    except Exception:
        img.delete()
        raise
    return img


def visualize_units(config):
    """Run the engine's ``visualize`` on a folder or on the open images; return
    (new image, JSON index text). Nothing existing is modified."""
    cfg = nst_config.load_config()
    gfile = config.get_property("folder")
    folder = gfile.get_path() if gfile is not None else None
    images = []
    if folder:
        nst_files.check_folder(folder)
    else:
        images = [im for im in Gimp.get_images() if im.is_valid()]
        if not images:
            raise NstError("No images to visualize: choose a folder of images (Folder), or "
                              "open some images in GIMP first.")
    layers = nst_jobs.normalize_layers(config.get_property("layers"))

    Gimp.progress_init("Visualize network units: preparing")
    with nst_tempdirs.RunDir(nst_tempdirs.temp_root(cfg)) as run:
        if folder:
            inputs = [folder]
        else:
            os.mkdir(run.file("images"), 0o700)
            names = nst_files.export_file_names([_image_label(im) for im in images])
            inputs = []
            for i, (im, name) in enumerate(zip(images, names)):
                Gimp.progress_set_text(f"Visualize network units: exporting open image "
                                       f"{i + 1}/{len(images)}")
                path = os.path.join(run.file("images"), name)
                _export_image_flat(im, path)
                inputs.append(path)
        job = nst_jobs.VisualizeJob(inputs=inputs, output=run.file("units.png"),
                                    index=run.file("units.json"), layers=layers,
                                    units=config.get_property("units"), top=config.get_property("top"),
                                    size=config.get_property("size"), cell=config.get_property("cell"),
                                    gradients=config.get_property("gradients"))
        argv = nst_jobs.build_visualize_argv(cfg, job)
        Gimp.progress_set_text("Visualize network units: starting the engine")
        nst_client.run_engine(argv, nst_client.engine_env(cfg), run.file("engine-stderr.log"),
                              on_event=_Progress(), popen_kw=nst_client.popen_kwargs(cfg, run.path),
                              task=VISUALIZE_TASK)
        index = nst_files.read_index(job.index)
        Gimp.progress_set_text("Visualize network units: opening the picture")
        shown = ", ".join(l.get("layer", "?") for l in index.get("layers", []))
        new = _open_picture(job.output, f"Network units: {shown}" if shown else "Network units")
        with open(job.index, "r", encoding="utf-8") as f:
            index_text = f.read()
    Gimp.progress_update(1.0)
    Gimp.progress_end()
    return new, index_text


def run_visualize(procedure, config, data):
    run_mode = config.get_property("run-mode")
    if run_mode == Gimp.RunMode.INTERACTIVE and not _dialog(
            procedure, config, VIS_PROC_NAME, "Visualize Network Units",
            ["folder", "layers", "units", "top", "size", "cell", "gradients"]):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    outcome, failed = _guarded(procedure, "Visualize Network Units", lambda: visualize_units(config))
    if failed is not None:
        return failed
    new, index_text = outcome
    if run_mode == Gimp.RunMode.INTERACTIVE:
        try:
            Gimp.Display.new(new)
            Gimp.displays_flush()
        except Exception as e:   # gimp-console has no image windows: the image is still returned
            sys.stderr.write(f"{VIS_PROC_NAME}: no display for the new image ({e})\n")
    return _success(procedure, GObject.Value(Gimp.Image, new), GObject.Value(GObject.TYPE_STRING, index_text))


def _int_range(command, name):
    """(minimum, maximum, default) of an engine option, from the contract (nst_contract.options)."""
    spec = options.option(command, name)
    return int(spec.minimum), int(spec.maximum), int(spec.default)


def _create_visualize_procedure(plugin, name):
    procedure = Gimp.Procedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run_visualize, None)
    # A plain procedure (no image/drawables arguments, no image types): like GIMP's own
    # Python Console it is available with or without an open image.
    procedure.set_menu_label("_Visualize Network Units...")
    procedure.add_menu_path("<Image>/Filters/Artistic/Neural Style")
    procedure.set_documentation(
        "Show the image patches that most excite units of the style network's layers",
        "For units (channels) of chosen VGG layers, finds the image patches (each unit's exact "
        "receptive field) with the highest activations over a folder of images, or over the "
        "images open in GIMP, and opens one labelled picture as a new image: a block per layer, a "
        "row per unit, the best patches left to right (Zeiler & Fergus). No open image is "
        "modified. The engine runs as a separate process (see docs/plugin.md, docs/visualize.md).",
        name)
    procedure.set_attribution("gimp-neural-style contributors", "gimp-neural-style contributors",
                              "2025")
    procedure.add_enum_argument("run-mode", "Run mode", "The run mode", Gimp.RunMode,
                                Gimp.RunMode.INTERACTIVE, RW)
    _add_visualize_arguments(procedure)
    procedure.add_image_return_value(
        "image", "Image", "The new image with the picture", False, RW)
    procedure.add_string_return_value(
        "index", "Index", "The engine's JSON index of the picture (docs/visualize.md): every "
        "patch's image, box, activation and cell", "", RW)
    return procedure


def _add_visualize_arguments(procedure):
    """The dialog's settings; ranges and defaults are the engine's (nst_contract.options)."""
    procedure.add_file_argument(
        "folder", "_Folder of images",
        "Folder whose images are scanned (not recursive); none = the images open in GIMP, each "
        "flattened", Gimp.FileChooserAction.SELECT_FOLDER, True, None, RW)
    procedure.add_string_argument(
        "layers", "La_yers",
        "Network layers, comma-separated (e.g. relu1_1,relu3_1); empty = "
        f"{','.join(options.DEFAULT_LAYERS)}", "", RW)
    procedure.add_int_argument(
        "units", "_Units per layer",
        "Units shown per layer: those with the highest mean activation over the images",
        *_int_range("visualize", "units"), RW)
    procedure.add_int_argument(
        "top", "_Patches per unit", "Best patches shown per unit", *_int_range("visualize", "top"), RW)
    procedure.add_int_argument(
        "size", "Scan si_ze", "Images are scanned with their longest side at this many pixels "
        "(smaller images are not enlarged)", *_int_range("visualize", "size"), RW)
    procedure.add_int_argument(
        "cell", "C_ell size", "Display size of a patch in the picture, in pixels",
        *_int_range("visualize", "cell"), RW)
    procedure.add_boolean_argument(
        "gradients", "Show _gradients",
        "Beside each patch, what in it drives the unit (gradient of the activation); slow for "
        "deep layers", False, RW)


# ----------------------------------------------------------------------------- procedure

def run(procedure, run_mode, image, drawables, config, data):
    def setup(dialog):
        from gi.repository import Gtk
        # GIMP 3.2 shows a choice of up to 3 items as radio buttons under a title without a
        # mnemonic; a combo box keeps its label's mnemonic (3.0 shows every choice this way)
        for choice in CHOICE_ARGUMENTS:
            dialog.get_widget(choice, Gtk.ComboBox.__gtype__)
        dialog.get_scale_entry("strength", 1.0)  # a 0..1 slider rather than a spin button
        try:
            cfg = nst_config.load_config()
        except ConfigError:
            cfg = None  # the run itself reports it
        try:
            layer = _target_layer(image, drawables)
            layer_size = (layer.get_width(), layer.get_height())
        except NstError:
            layer_size = None  # the run itself reports it
        dialog.get_label("nst-times", nst_progress.preset_times_text(cfg and cfg.model, cfg and cfg.device,
                                                                     layer_size=layer_size), False, False)

    def preview(dialog):   # the live preview beside the settings (nst_preview.py)
        gimp = nst_preview.GimpSide(_target_layer, _style_choice, _style_png, _choose_region, _region_mask, _read)
        return nst_preview.attach(dialog, config, image, drawables, started, gimp)

    if run_mode == Gimp.RunMode.INTERACTIVE:
        import nst_preview
        started = nst_preview.EngineStart()   # first of all: the engine loads while GIMP builds the dialog
        try:
            ok = _dialog(procedure, config, PROC_NAME, "Neural Style Transfer",
                         ["style-source", "style-file", "style-layer", "strength", "preset",
                          "nst-times", "size", "preserve-color", "region", "seed", "iterations"],
                         setup, preview)
        finally:
            started.close()   # also when the dialog failed before the preview took it over
        if not ok:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    new, failed = _guarded(procedure, "Neural Style Transfer",
                           lambda: stylize(procedure, image, drawables, config))
    if failed is not None:
        return failed
    return _success(procedure, GObject.Value(Gimp.Layer, new))


def _dialog(procedure, config, proc_name, title, fields, setup=None, attach=None) -> bool:
    """Show the procedure's dialog; True when the user pressed OK. ``attach(dialog)``, after
    the fields are in, may add widgets and return something whose ``close()`` is called when
    the dialog ends (OK, Cancel, window closed, or an error)."""
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi
    GimpUi.init(proc_name)
    dialog = GimpUi.ProcedureDialog.new(procedure, config, title)
    if setup:
        setup(dialog)
    dialog.fill(fields)
    attached = attach(dialog) if attach else None
    try:
        ok = dialog.run()
    finally:
        if attached is not None:
            attached.close()
    dialog.destroy()
    return ok


def _guarded(procedure, title, work):
    """Run ``work()``: (its result, None), or (None, the return values GIMP shows for the failure).

    Cancel is a cancel, our own errors carry their message, anything else is a bug and
    says so, with the traceback on stderr (GIMP's error console).
    """
    try:
        Gegl.init(None)
        return work(), None
    except Cancelled as e:
        return None, procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error(str(e)))
    except NstError as e:
        return None, procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(str(e)))
    except Exception as e:
        traceback.print_exc()
        return None, procedure.new_return_values(
            Gimp.PDBStatusType.EXECUTION_ERROR,
            GLib.Error(f"{title} failed unexpectedly: {e.__class__.__name__}: {e}"))


def _success(procedure, *values):
    """SUCCESS return values with ``values`` as return values 1, 2, ..."""
    retval = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    for i, value in enumerate(values, start=1):
        retval.remove(i)
        retval.insert(i, value)
    return retval


class NeuralStyleTransfer(Gimp.PlugIn):
    def do_set_i18n(self, name):
        return False

    def do_query_procedures(self):
        return [PROC_NAME, VIS_PROC_NAME]

    def do_create_procedure(self, name):
        if name == VIS_PROC_NAME:
            return _create_visualize_procedure(self, name)
        return _create_stylize_procedure(self, name)


def _create_stylize_procedure(plugin, name):
    procedure = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run, None)
    procedure.set_image_types("RGB*, GRAY*")
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
    procedure.set_menu_label("_Neural Style Transfer...")
    procedure.add_menu_path("<Image>/Filters/Artistic")
    procedure.set_documentation(
        "Paint a layer in the style of another image (neural style transfer)",
        "Adds a new layer above the selected layer, with the layer's content painted in the "
        "style of a style image (a file, or a layer of any open image). With a layer mask or a "
        "selection, only that region is stylised and the new layer gets a matching layer mask. "
        "The engine runs as a separate process (see docs/plugin.md); the source layer is not "
        "modified and the whole change is one undo step.",
        name)
    procedure.set_attribution("gimp-neural-style contributors", "gimp-neural-style contributors",
                              "2025")
    _add_style_arguments(procedure)
    _add_quality_arguments(procedure)
    procedure.add_layer_return_value(
        "layer", "Layer", "The new stylised layer", False, RW)
    return procedure


def _add_style_arguments(procedure):
    """Where the style comes from and how strongly it is painted."""
    procedure.add_choice_argument(
        "style-source", "Style so_urce",
        "Where the style comes from: " + _choice_help(nst_files.STYLE_SOURCE_WORDS),
        _choice(nst_files.STYLE_SOURCE_WORDS),
        nst_files.STYLE_SOURCES[0], RW)
    procedure.add_file_argument(
        "style-file", "Style _image", "Image file whose style is painted onto the layer",
        Gimp.FileChooserAction.OPEN, True, None, RW)
    procedure.add_layer_argument(
        "style-layer", "Style la_yer",
        "A layer of any open image to use as the style (used instead of the file when set)",
        True, RW)
    procedure.add_double_argument(
        "strength", "Stre_ngth",
        f"Style strength {options.STRENGTH_RANGE[0]:g}..{options.STRENGTH_RANGE[1]:g} "
        f"({options.DEFAULT_STRENGTH:g} = the engine's default style weight; each 0.1 multiplies the "
        "style weight by 2)", *options.STRENGTH_RANGE, options.DEFAULT_STRENGTH, RW)


def _add_quality_arguments(procedure):
    """Preset, size, colours, region, seed and iterations; the choices and limits are the
    plug-in's presets (nst_jobs.PRESETS) over the engine's qualities and sizes."""
    presets = nst_jobs.PRESET_WORDS
    draft = nst_jobs.PRESET_CAPS["draft"]
    procedure.add_choice_argument(
        "preset", "_Quality",
        "Quality preset: " + ", ".join(f"{name} ({meaning})" for name, (_label, meaning) in presets.items()),
        _choice(presets),
        options.DEFAULT_QUALITY, RW)
    procedure.add_int_argument(
        "size", "Result si_ze",
        f"Longest side of the computed result in pixels; 0 = the layer's own size (draft: at most "
        f"{draft} px; above the engine's limit, {options.DEFAULT_MAX_SIZE} px, or its memory: the "
        "largest size that fits). A smaller result is scaled to the layer's size.",
        0, 2 * options.DEFAULT_MAX_SIZE, 0, RW)
    procedure.add_boolean_argument(
        "preserve-color", "_Keep content colours",
        "Keep the layer's colours (only the style's texture is taken); off = take the style's "
        "colours", False, RW)
    procedure.add_choice_argument(
        "region", "Re_gion",
        "Where to stylise: " + _choice_help(nst_regions.REGION_WORDS),
        _choice(nst_regions.REGION_WORDS),
        nst_regions.REGIONS[0], RW)
    procedure.add_int_argument(
        "seed", "S_eed", "Random seed (same seed and settings = same result)",
        0, 2147483647, 0, RW)
    procedure.add_int_argument(
        "iterations", "I_terations",
        "Iterations at the finest scale; 0 = the quality preset's", 0, 10000, 0, RW)


def main():
    """Serve GIMP, then leave at once. When Gimp.main returns, the run is over and the wire to
    GIMP is closed; the interpreter's teardown after it (GTK, GimpUi and their threads: 0.1-0.5 s
    measured) kept the process alive after GIMP saw the run end, and GIMP 3.2 quitting then
    reported "Zombie plug-in: ... never exited". Nothing is left to clean up at that point (each
    run removes its temp folder and waits for its engine), so skip that teardown."""
    status = Gimp.main(NeuralStyleTransfer.__gtype__, sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


main()

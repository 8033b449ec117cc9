export { makeBusyboxRootfs } from '../../src/image/busybox-rootfs.js';

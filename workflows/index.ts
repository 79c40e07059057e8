export { orderSaga } from './order-saga';
export { refundSaga } from './refund-saga';

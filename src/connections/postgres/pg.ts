// The one place the pg driver is loaded as a value; pg-navigator.js must be evaluated before it.
import { dropNavigator } from './pg-navigator.js';
import pg from 'pg';

dropNavigator();

export default pg;
